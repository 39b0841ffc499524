"""Events-out test setup: the trading fixtures (accounts with cash and shares, the sandbox
custodian), no Celery kick after commits (tests publish and deliver themselves), and
webhook URLs on this machine allowed (the tests' receiver listens on 127.0.0.1)."""

import pytest

from tests.events.webhooks import Receiver
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


@pytest.fixture(autouse=True)
def _role_permissions(db):
    """The admin tests here need operations' permissions, which a transactional test's flush
    earlier in the run takes away (tests/roles.py)."""
    from tests.roles import restore_role_permissions

    restore_role_permissions()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def firm_world(alice, alice_household, bob_household):
    return {"advisor": alice, "household": alice_household, "other_household": bob_household}
