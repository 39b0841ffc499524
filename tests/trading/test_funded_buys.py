"""A rebalance proposal's buys are paid for by its own sells (issue 13).

A fully invested account: $10 of cash, 50 VTI at $200; the model is 60/40 VTI/BND, so the
proposal sells 19 VTI ($3,800) and buys 54 BND ($3,780) — which only the sale pays for. The
firm's real pre-trade checks are on (the trading suite turns them off by default)."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.services import system_user
from compliance.models import ComplianceSettings
from compliance.pretrade import run_pretrade_checks
from portfolios.models import CashBalance, Price
from tests.accounts.factories import InvestorFactory
from tests.compliance.factories import kyc, profile
from tests.trading.factories import account_with, model_of
from trading import services
from trading.checks import PRETRADE_CHECKS
from trading.errors import TradingError
from trading.models import Order, RebalanceProposal
from trading.services.common import buying_power, open_buy_reservations
from trading.services.fills import Fill, execution_apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def invested(alice_household, securities, settings, override_checks):
    override_checks(PRETRADE_CHECKS, run_pretrade_checks)
    # a two-fund model: each fund is far above the default 25% concentration limit (a soft rule)
    ComplianceSettings.objects.create(firm=alice_household.firm, concentration_limit=Decimal("0.7"))
    investor = InvestorFactory(firm=alice_household.firm, households=[alice_household])
    kyc(investor)
    profile(investor, 7)
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    account = account_with(alice_household, cash="10.00", positions=[("VTI", "50", "150")], model=model)
    (proposal,) = services.proposal_create_for_accounts(account_ids=[account.pk], acting_user=system_user())
    trades = [(t.side, t.symbol, t.quantity) for t in proposal.trades.all()]
    assert trades == [("sell", "VTI", Decimal("19")), ("buy", "BND", Decimal("54"))]
    return account, proposal


def _cash(account) -> Decimal:
    return CashBalance.objects.get(account=account, currency="USD").amount


def _orders(proposal):
    return {o.side: o for o in Order.objects.filter(proposal=proposal)}


def test_the_buy_waits_for_the_sell_with_its_funds_check_passed_then_everything_fills(invested, alice, sandbox):
    account, proposal = invested
    services.proposal_approve(proposal=proposal, acting_user=alice.user)
    orders = _orders(proposal)
    assert orders["sell"].status == "approved"
    buy = orders["buy"]
    assert buy.status == "awaiting_funds", buy.status_reason
    assert buy.reserved_amount == Decimal("3780.00")
    funds = buy.checks.get(rule="funds")
    assert funds.outcome == "pass"
    assert "counting the proposal's sells" in funds.message

    sandbox.relay()  # only the sell goes out: the buy is not sent before its cash is there
    assert sandbox.sandbox.order_count() == 1
    sandbox.deliver()
    buy.refresh_from_db()
    assert buy.status == "approved"  # released by the sell's fill
    sandbox.relay()
    sandbox.deliver()
    assert {o.status for o in Order.objects.filter(proposal=proposal)} == {"filled"}
    assert _cash(account) == Decimal("30.00")  # 10 + 3,800 - 3,780


def test_a_cancelled_sell_leaves_the_buy_rejected_and_named_never_overdrawn(invested, alice):
    account, proposal = invested
    services.proposal_approve(proposal=proposal, acting_user=alice.user)
    orders = _orders(proposal)
    services.order_cancel(order=orders["sell"], acting_user=alice.user)
    buy = Order.objects.get(pk=orders["buy"].pk)
    assert buy.status == "rejected"
    assert buy.status_reason.startswith("Not enough cash for BND")
    proposal.refresh_from_db()
    assert any(note.startswith("Not enough cash for BND") for note in proposal.notes)
    assert _cash(account) == Decimal("10.00")
    assert buying_power(account) == Decimal("10.00")  # the reservation is gone


def test_a_partly_filled_sell_cuts_the_buy_to_what_its_proceeds_pay_for(invested, alice):
    account, proposal = invested
    services.proposal_approve(proposal=proposal, acting_user=alice.user)
    sell = _orders(proposal)["sell"]
    today = proposal.as_of
    execution_apply(
        fill=Fill(sell.client_order_id, "X-1", Decimal("10"), Decimal("200"), today), acting_user=system_user()
    )
    buy = Order.objects.get(proposal=proposal, side="buy")
    assert buy.status == "awaiting_funds"  # $2,010 does not pay for $3,780 yet, and the sell is still open
    services.webhook_event_apply(
        event={"id": "evt-cancel-1", "type": "order.cancelled", "data": {"client_order_id": sell.client_order_id}}
    )
    buy.refresh_from_db()
    assert buy.status == "approved"
    assert buy.quantity == Decimal("28")  # floor(2,010 / 70)
    assert buy.reserved_amount == Decimal("1960.00")
    proposal.refresh_from_db()
    assert any("BND buy cut from 54 to 28 shares" in note for note in proposal.notes)
    assert _cash(account) - open_buy_reservations(account) == Decimal("50.00")


def test_the_cash_a_waiting_buy_holds_cannot_be_withdrawn_or_spent(invested, alice):
    account, proposal = invested
    services.proposal_approve(proposal=proposal, acting_user=alice.user)
    with pytest.raises(TradingError) as exc:
        services.transfer_create(
            account=account, direction="withdrawal", amount=Decimal("10.00"), acting_user=alice.user
        )
    assert exc.value.code == "insufficient_cash"
    with pytest.raises(TradingError) as exc:
        services.order_create(
            account=account,
            security="AAPL",
            side="buy",
            quantity=Decimal("1"),
            acting_user=alice.user,
            source="advisor",
        )
    assert exc.value.code == "insufficient_cash"


def test_a_buy_short_even_with_the_sells_is_rejected_by_name_and_the_page_says_so(invested, alice, verified_client):
    account, proposal = invested
    # BND rose after the proposal was made: 54 at $71 is $3,834, more than $10 and the sale's $3,800.
    Price.objects.filter(security__symbol="BND", date=date.today()).update(close=Decimal("71"))
    client = verified_client(alice.user)
    response = client.post(f"/proposals/{proposal.pk}/approve/", follow=True)
    page = response.content.decode()
    assert "Approved: 1 order placed, 1 rejected: BND buy — Not enough cash for BND" in page
    assert "orders placed" not in page
    # the reason is visible text on the order's row, not only a hover title
    assert '<div class="order-reason" data-reason>Not enough cash for BND' in page
    proposal.refresh_from_db()
    assert proposal.status == RebalanceProposal.Status.APPROVED
    assert any(note.startswith("BND buy rejected: Not enough cash for BND") for note in proposal.notes)


def test_an_approval_reads_the_accounts_compliance_facts_once_for_all_its_orders(invested, alice):
    """The firm's rules, the owners' KYC and AML cases, suitability and the holdings are the
    account's, not the order's: read by the first order's checks, reused by the next."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account, proposal = invested
    with CaptureQueriesContext(connection) as queries:
        services.proposal_approve(proposal=proposal, acting_user=alice.user)

    def reads(table: str) -> int:
        return sum(
            1 for q in queries.captured_queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
        )

    assert reads("compliance_compliancesettings") == 1
    assert reads("compliance_amlcase") == 1
    assert reads("compliance_riskprofile") == 1  # suitability: the buy's only
    orders = _orders(proposal)
    for order in orders.values():
        rules = {c.rule: c.outcome for c in order.checks.all()}
        assert set(rules) == {"kyc", "aml", "account_restriction", "restricted_security", "suitability",
                              "concentration", "funds", "wash_sale"}  # fmt: skip
        assert rules["kyc"] == rules["aml"] == rules["suitability"] == rules["funds"] == "pass"
    assert orders["buy"].checks.get(rule="concentration").outcome == "pass"
