"""Acceptance (issue 13): the demo advisor's fully invested, drifted "Joint brokerage ·
DEMO-00021", rebalanced and approved with the firm's real pre-trade checks, ends with every
order filled through the sandbox custodian (its webhooks back through our endpoint) and the
account inside its bands."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.services import system_user
from portfolios.models import InvestmentAccount
from tests.trading.conftest import SandboxHarness
from trading import services
from trading.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(client, settings):
    settings.TRADING_RELAY_ON_COMMIT = False
    settings.CUSTODIAN_WEBHOOK_SECRET = "test-webhook-secret"
    settings.CUSTODIAN_RETRIES = 0
    harness = SandboxHarness(client)
    settings.CUSTODIAN_URL = harness.url
    yield harness
    harness.sandbox.stop()


def _run_until_quiet(sandbox: SandboxHarness) -> None:
    """The relay and the webhooks, until nothing is left to send (the held buys go out once
    their sells' fills come back)."""
    for _ in range(10):
        result = sandbox.relay()
        delivered = sandbox.deliver()
        if not result.sent and not delivered:
            return


def test_demo_00021_approved_fills_every_order_and_ends_inside_its_bands(sandbox):
    from portfolios import ledger

    call_command("seed_demo", verbosity=0)
    account = InvestmentAccount.objects.get(custodian_account_number="DEMO-00021")
    assert account.name == "Joint brokerage"
    (proposal,) = services.proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user())
    assert proposal.needed
    buys = proposal.trades.filter(side="buy")
    assert buys.exists()
    # Fully invested: the buys need far more than the account's cash, i.e. the sells' proceeds.
    cash = Decimal(proposal.inputs["cash"])
    assert sum(t.estimated_amount for t in buys) > cash * 5

    orders = services.proposal_approve(proposal=proposal, acting_user=account.household.advisor.user)
    assert len(orders) == proposal.trades.count()
    assert not [o.status_reason for o in orders if o.status in ("rejected", "pending_review")]
    _run_until_quiet(sandbox)

    statuses = {o.security.symbol + " " + o.side: o.status for o in Order.objects.filter(proposal=proposal)}
    assert set(statuses.values()) == {"filled"}, statuses
    (after,) = services.proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user())
    assert not after.needed, after.drift_before
    assert after.max_drift_before < Decimal(after.inputs["settings"]["threshold"])
    assert ledger.verify() == []
