"""The KYC provider (Jumio-shaped): interface, HTTP client and configuration."""

from compliance.adapters.kyc.client import SandboxKYCProvider
from compliance.adapters.kyc.config import get_provider
from compliance.adapters.kyc.interface import (
    DECISIONS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Applicant,
    KYCProvider,
    KYCProviderError,
    Result,
    Started,
    parse_result,
    sign,
    verify,
)

__all__ = [
    "DECISIONS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Applicant",
    "KYCProvider",
    "KYCProviderError",
    "Result",
    "SandboxKYCProvider",
    "Started",
    "get_provider",
    "parse_result",
    "sign",
    "verify",
]
