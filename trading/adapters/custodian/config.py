"""Which custodian Kronos talks to, and how: the REST client at `settings.CUSTODIAN_URL` (the
sandbox's API unless the deployment says otherwise), its timeout, retries and backoff."""

from django.conf import settings

from trading.adapters.custodian.client import RestCustodian


def get_custodian() -> RestCustodian:
    """The configured custodian (the sandbox's REST API unless settings say otherwise)."""
    return RestCustodian(
        settings.CUSTODIAN_URL,
        timeout=settings.HTTP_TIMEOUT_SECONDS,
        retries=getattr(settings, "CUSTODIAN_RETRIES", 3),
        backoff=getattr(settings, "CUSTODIAN_BACKOFF_SECONDS", 0.2),
    )
