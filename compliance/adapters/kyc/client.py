"""The KYC provider's HTTP client (Jumio-shaped; the sandbox of `run_sandbox_kyc` speaks it)."""

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from compliance.adapters.kyc.interface import Applicant, KYCProviderError, Result, Started, parse_result


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
