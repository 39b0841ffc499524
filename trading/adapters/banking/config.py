"""Which bank-transfer provider Kronos talks to: the REST client at `settings.BANKING_URL` (the
sandbox's API unless the deployment says otherwise) and its timeout."""

from django.conf import settings

from trading.adapters.banking.client import RestBanking


def get_banking() -> RestBanking:
    """The configured bank-transfer provider."""
    return RestBanking(settings.BANKING_URL, timeout=settings.HTTP_TIMEOUT_SECONDS)
