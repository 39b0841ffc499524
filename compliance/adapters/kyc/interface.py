"""The KYC provider's contract, shaped like Jumio's account + workflow-execution API: what we
send and get back, and the signed webhook. Results arrive by signed
webhook: HMAC-SHA256 over "<timestamp>.<body>" with settings.KYC_WEBHOOK_SECRET, the
timestamp in the `X-KYC-Timestamp` header and the hex signature in `X-KYC-Signature`.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from django.conf import settings

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
