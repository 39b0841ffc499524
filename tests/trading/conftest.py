"""Trading test setup: no compliance hooks unless a test sets them, no Celery kick, and
every test leaves the ledger balanced."""

import pytest

from tests.trading.factories import advisor_account, securities  # noqa: F401


@pytest.fixture(autouse=True)
def _roles(request):
    """A transactional test's flush drops the groups the data migrations made: put them back."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("_django_db_helper")
    import importlib

    from django.apps import apps

    for module in ("accounts.migrations.0002_create_roles", "trading.migrations.0002_grant_role_permissions"):
        migration = importlib.import_module(module)
        (getattr(migration, "create_roles", None) or migration.grant)(apps, None)
    yield


@pytest.fixture(autouse=True)
def _trading_settings(settings):
    settings.TRADING_PRETRADE_CHECKS = []
    settings.TRADING_FUNDING_CHECKS = []
    settings.TRADING_RELAY_ON_COMMIT = False
    settings.CUSTODIAN_WEBHOOK_SECRET = "test-webhook-secret"
    settings.CUSTODIAN_RETRIES = 0
    yield


@pytest.fixture(autouse=True)
def _ledger_balanced(request):
    yield
    if "db" in request.fixturenames or "transactional_db" in request.fixturenames:
        from portfolios import ledger

        problems = ledger.verify()
        assert problems == [], problems


class SandboxHarness:
    """The sandbox custodian on a free port with webhooks queued; `deliver()` posts them
    to our webhook endpoint through the test client, in the test's own thread."""

    def __init__(self, client, **options):
        from sandboxes.custodian import SandboxCustodian

        self.client = client
        self.sandbox = SandboxCustodian(secret="test-webhook-secret", seed=7, **options)
        self.url = self.sandbox.start()
        self.statuses = []

    def custodian(self, **kwargs):
        from trading.adapters.custodian import RestCustodian

        kwargs.setdefault("retries", 0)
        kwargs.setdefault("timeout", 5)
        return RestCustodian(self.url, sleep=lambda s: None, **kwargs)

    def send(self, body, headers):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
        response = self.client.post("/webhooks/custodian/", data=body, content_type="application/json", **extra)
        self.statuses.append(response.status_code)
        return response.status_code

    def deliver(self):
        total = 0
        while self.sandbox.pending_webhook_count():
            total += self.sandbox.deliver_pending(self.send)
        return total

    def relay(self, **kwargs):
        from trading.services import relay_outbox

        return relay_outbox(custodian=kwargs.pop("custodian", None) or self.custodian(), **kwargs)


@pytest.fixture
def sandbox(client, settings):
    harness = SandboxHarness(client)
    settings.CUSTODIAN_URL = harness.url
    yield harness
    harness.sandbox.stop()


@pytest.fixture
def on_target(alice_household, securities):  # noqa: F811 -- the fixture imported above
    """An account on a 60/40 VTI/BND model, on target, with $10 of cash (the cash-flow tests')."""
    from tests.trading.factories import account_with, model_of

    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    return account_with(
        alice_household, cash="10.00", positions=[("VTI", "30", "150"), ("BND", "57", "60")], model=model
    )
