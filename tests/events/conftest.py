"""Events-out test setup: the trading fixtures (accounts with cash and shares, the sandbox
custodian), no Celery kick after commits (tests publish and deliver themselves), and
webhook URLs on this machine allowed (the tests' receiver listens on 127.0.0.1)."""

import pytest

from tests.trading.conftest import _roles, _trading_settings, sandbox  # noqa: F401
from tests.trading.factories import advisor_account, securities  # noqa: F401


@pytest.fixture(autouse=True)
def _events_settings(settings):
    settings.EVENTS_PUBLISH_ON_COMMIT = False
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_URL_ALLOWLIST = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    yield
