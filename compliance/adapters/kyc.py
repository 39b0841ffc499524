"""The KYC provider, shaped like Jumio's account + workflow-execution API.

`get_provider()` returns the adapter chosen by settings.KYC_ADAPTER ("sandbox" talks to the
local service of `run_sandbox_kyc`, whose API has Jumio's shape). Results arrive by signed
webhook: HMAC-SHA256 over "<timestamp>.<body>" with settings.KYC_WEBHOOK_SECRET, the
timestamp in the `X-KYC-Timestamp` header and the hex signature in `X-KYC-Signature`.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from kronos import webhooks

TIMESTAMP_HEADER = "X-KYC-Timestamp"
SIGNATURE_HEADER = "X-KYC-Signature"

#: The provider's decision types and the status each leads to.
DECISIONS = {"PASSED": "approved", "REJECTED": "rejected", "WARNING": "needs_review"}


class KYCProviderError(Exception):
    """The provider could not be reached or refused the request."""


@dataclass(frozen=True)
class Applicant:
    reference: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    country: str


@dataclass(frozen=True)
class Started:
    reference: str
    redirect_url: str


@dataclass(frozen=True)
class Result:
    """A verification's outcome, from a webhook or a poll."""

    reference: str
    event_id: str
    status: str  # approved | rejected | needs_review
    reason: str


class KYCProvider(Protocol):
    name: str

    def start(self, *, applicant: Applicant, callback_url: str) -> Started: ...

    def fetch(self, *, reference: str) -> Result | None: ...


def sign(body: bytes, timestamp: int | str, secret: str | None = None) -> str:
    secret = secret if secret is not None else settings.KYC_WEBHOOK_SECRET
    return webhooks.compute(secret, timestamp, body)


def verify(body: bytes, timestamp: str | None, signature: str | None, *, now: float | None = None) -> str | None:
    """None when the signature is good and fresh (the shared verifier, kronos/webhooks.py: past
    and future timestamps beyond the tolerance alike); otherwise why it is refused."""
    try:
        webhooks.verify(
            settings.KYC_WEBHOOK_SECRET,
            timestamp=timestamp or None,
            signatures=[signature or ""],
            body=body,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
            now=now,
        )
    except webhooks.SignatureError as exc:
        return exc.reason
    return None


def parse_result(payload: dict[str, Any]) -> Result:
    """A Jumio-shaped callback (or poll answer) as a Result; KeyError/ValueError if malformed."""
    execution = payload["workflowExecution"]
    decision = execution.get("decision") or {}
    status = DECISIONS[decision["type"]]
    return Result(
        reference=str(payload["customerInternalReference"]),
        event_id=str(payload.get("eventId") or f"{execution['id']}:{decision['type']}"),
        status=status,
        reason=str((decision.get("details") or {}).get("label", ""))[:255],
    )


class SandboxKYCProvider:
    """Client of the local sandbox service (same shape as Jumio's API)."""

    name = "sandbox"

    def __init__(self, base_url: str | None = None):
        self.base_url = (base_url or settings.KYC_URL).rstrip("/")
        self.session = requests.Session()
        # Retries are safe: the customer reference is the idempotency key on the provider.
        retry = Retry(total=3, backoff_factor=0.2, status_forcelist=[502, 503, 504], allowed_methods=None)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def start(self, *, applicant: Applicant, callback_url: str) -> Started:
        body = {
            "customerInternalReference": applicant.reference,
            "callbackUrl": callback_url,
            "userConsent": {"obtained": "yes"},
            "applicant": {
                "firstName": applicant.first_name,
                "lastName": applicant.last_name,
                "dateOfBirth": applicant.date_of_birth.isoformat() if applicant.date_of_birth else None,
                "country": applicant.country,
            },
        }
        try:
            response = self.session.post(
                f"{self.base_url}/api/v1/accounts",
                json=body,
                headers={"Idempotency-Key": applicant.reference},
                timeout=settings.HTTP_TIMEOUT_SECONDS,
            )
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise KYCProviderError(f"The KYC provider could not start the verification: {exc}") from exc
        return Started(reference=applicant.reference, redirect_url=data.get("web", {}).get("href", ""))

    def fetch(self, *, reference: str) -> Result | None:
        try:
            response = self.session.get(
                f"{self.base_url}/api/v1/accounts/{reference}/execution", timeout=settings.HTTP_TIMEOUT_SECONDS
            )
            if response.status_code == 404:
                return None
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise KYCProviderError(f"The KYC provider could not be reached: {exc}") from exc
        if data.get("workflowExecution", {}).get("status") != "PROCESSED":
            return None
        return parse_result(data)


def get_provider() -> KYCProvider:
    if settings.KYC_ADAPTER == "sandbox":
        return SandboxKYCProvider()
    raise KYCProviderError(f"Unknown KYC adapter {settings.KYC_ADAPTER!r}.")
