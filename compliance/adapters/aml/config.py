"""Which AML provider this deployment screens with: settings.AML_ADAPTER ("sandbox": the local
watch list)."""

from django.conf import settings

from compliance.adapters.aml.client import SandboxAMLProvider
from compliance.adapters.aml.interface import AMLProvider


def get_provider() -> AMLProvider:
    if settings.AML_ADAPTER == "sandbox":
        return SandboxAMLProvider()
    raise ValueError(f"Unknown AML adapter {settings.AML_ADAPTER!r}.")
