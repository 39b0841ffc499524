"""Which KYC provider this deployment talks to: settings.KYC_ADAPTER ("sandbox": the local
service of `run_sandbox_kyc`, at settings.KYC_URL)."""

from django.conf import settings

from compliance.adapters.kyc.client import SandboxKYCProvider
from compliance.adapters.kyc.interface import KYCProvider, KYCProviderError


def get_provider() -> KYCProvider:
    if settings.KYC_ADAPTER == "sandbox":
        return SandboxKYCProvider()
    raise KYCProviderError(f"Unknown KYC adapter {settings.KYC_ADAPTER!r}.")
