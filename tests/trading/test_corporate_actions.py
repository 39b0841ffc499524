"""A split adjusts the open orders in the security: quantities x ratio, limit prices / ratio."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.services import system_user
from portfolios.models import CashBalance, Position
from portfolios.services import corporate_action_create, corporate_actions_process
from tests.trading.factories import account_with, make_security
from trading.models import Order, OutboxMessage
from trading.services import order_create
from trading.services.outbox import split_held_securities

pytestmark = pytest.mark.django_db

D = Decimal


def reverse_split_1_for_10_tomorrow(security, *, cash_in_lieu_price, acting_user):
    """A 1-for-10 reverse split of `security` going ex tomorrow, entered and applied."""
    ex = date.today() + timedelta(days=1)
    action = corporate_action_create(
        security=security,
        kind="reverse_split",
        ex_date=ex,
        ratio_numerator=1,
        ratio_denominator=10,
        cash_in_lieu_price=cash_in_lieu_price,
        acting_user=acting_user,
    )
    corporate_actions_process(as_of=ex, acting_user=acting_user)
    return action


def test_a_1_for_10_reverse_split_adjusts_an_open_limit_order_and_cancels_one_left_with_nothing(alice_household):
    xyz = make_security("XYZ", "3.20")
    account = account_with(alice_household, cash="1000.00", positions=[("XYZ", "125", "3.10")])
    user = system_user()
    buy = order_create(
        account=account,
        security=xyz,
        side="buy",
        order_type="limit",
        quantity=D(35),
        limit_price=D("3.2567"),
        acting_user=user,
        source=Order.Source.API,
    )
    sell = order_create(
        account=account,
        security=xyz,
        side="sell",
        order_type="limit",
        quantity=D(5),
        limit_price=D("3.001"),
        acting_user=user,
        source=Order.Source.API,
    )
    assert (buy.status, sell.status) == ("approved", "approved")
    action = reverse_split_1_for_10_tomorrow(xyz, cash_in_lieu_price="38.00", acting_user=user)

    buy.refresh_from_db()
    sell.refresh_from_db()
    # 35 / 10 = 3.5 -> 3 whole shares; 3.2567 x 10 = 32.567 -> 32.56 (a buy rounds down); the
    # estimated price 3.20 x 10 = 32.00.
    assert (buy.quantity, buy.limit_price, buy.estimated_price, buy.status) == (
        D(3),
        D("32.56"),
        D("32.000000"),
        "approved",
    )
    assert buy.history.first().history_change_reason == f"1-for-10 reverse split #{action.pk}"
    # 5 / 10 = 0.5 -> nothing left: cancelled before it reached the custodian, its submission dropped.
    assert sell.status == "cancelled"
    assert sell.status_reason == f"1-for-10 reverse split #{action.pk}: nothing left to fill"
    assert not OutboxMessage.objects.filter(order=sell, status=OutboxMessage.Status.PENDING).exists()
    # 125 -> 12 shares and 0.5 x 38.00 = 19.00 in lieu.
    assert Position.objects.get(account=account, security=xyz).quantity == D(12)
    assert CashBalance.objects.get(account=account).amount == D("1019.00")


def test_limit_prices_round_in_the_clients_favour_and_whole_share_leaves_stay_whole():
    from trading.adapters.custodian.interface import split_adjusted_leaves, split_adjusted_limit_price

    # 3-for-2: a sell at 10.01 -> 6.673333... -> 6.68 (never sells for less); a buy -> 6.67.
    assert split_adjusted_limit_price(D("10.01"), "sell", split_to=3, split_from=2) == D("6.68")
    assert split_adjusted_limit_price(D("10.01"), "buy", split_to=3, split_from=2) == D("6.67")
    assert split_adjusted_limit_price(D("0.01"), "buy", split_to=3, split_from=2) == D("0.01")
    # 7 left of a whole-share order -> 10.5 -> 10; a fractional 0.3 -> 0.45.
    assert split_adjusted_leaves(D(7), split_to=3, split_from=2) == D(10)
    assert split_adjusted_leaves(D("0.3"), split_to=3, split_from=2) == D("0.45")


def test_a_reinvesting_automatic_account_invests_its_dividend_in_the_underweight_holding(alice_household, securities):
    from portfolios.models import CorporateActionEntitlement
    from tests.trading.factories import model_of
    from trading.models import RebalanceProposal

    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    # 100 AAPL at 150 = 15,000 and 200 BND at 70 = 14,000: BND is the underweight one.
    account = account_with(
        alice_household,
        positions=[("AAPL", "100", "120"), ("BND", "200", "65")],
        model=model,
        reinvest_dividends=True,
        rebalance_mode="automatic",
    )
    day = date.today() + timedelta(days=1)
    corporate_action_create(
        security=securities["BND"],
        kind="cash_dividend",
        ex_date=day,
        pay_date=day,
        amount_per_share="1.00",
        acting_user=system_user(),
    )

    result = corporate_actions_process(as_of=day, acting_user=system_user())

    assert (result.payments, result.reinvested) == (1, 1)
    # $200.00 paid; after it lands BND is 600 under its 14,600 target: 200 / 70 buys 2 whole shares.
    proposal = RebalanceProposal.objects.get(account=account, run_key=f"dividend:{account.pk}:{day.isoformat()}")
    assert proposal.status == "approved"
    assert [(o.side, o.security.symbol, o.quantity) for o in proposal.orders.all()] == [("buy", "BND", D(2))]
    assert CorporateActionEntitlement.objects.get(account=account).reinvested_at is not None
    # Another run the same day invests nothing twice.
    assert corporate_actions_process(as_of=day, acting_user=system_user()).reinvested == 0
    assert RebalanceProposal.objects.filter(account=account).count() == 1


def test_an_order_made_before_a_split_waits_in_the_outbox_until_the_split_is_applied(alice_household, sandbox):
    """The custodian works orders from the ex-date on in the new shares; an order made in the old
    ones is not sent from the ex-date's session (or after the close before it) until the night
    applies the split and adjusts it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    xyz = make_security("XYZ", "40.00")
    abc = make_security("ABC", "10.00")
    account = account_with(alice_household, cash="10000.00", positions=[("XYZ", "100", "30.00")])
    user = system_user()
    ex = date.today() + timedelta(days=2)  # the outbox's messages are due from now on
    while ex.weekday() > 1:  # a Tuesday or a Monday: the day before is a weekday too
        ex += timedelta(days=1)
    eve, after = ex - timedelta(days=1), ex + timedelta(days=1)

    def at(day, hour):
        return datetime(day.year, day.month, day.day, hour, 0, tzinfo=ny)

    action = corporate_action_create(
        security=xyz, kind="split", ex_date=ex, ratio_numerator=2, ratio_denominator=1, acting_user=user
    )
    sell = order_create(
        account=account, security=xyz, side="sell", quantity=D(60), acting_user=user, source=Order.Source.API
    )
    buy = order_create(
        account=account, security=abc, side="buy", quantity=D(10), acting_user=user, source=Order.Source.API
    )

    # The session before the ex-date: sent (it is worked in the old shares).
    assert split_held_securities(at(eve, 11)) == set()
    # After that close (worked at the ex-date's open) and during the ex-date's session: held.
    assert split_held_securities(at(eve, 17)) == {xyz.pk}
    result = sandbox.relay(now=at(ex, 10))
    assert result.sent == 1
    sell.refresh_from_db()
    buy.refresh_from_db()
    assert (sell.status, buy.status) == ("approved", "submitted")
    assert OutboxMessage.objects.filter(order=sell, status=OutboxMessage.Status.PENDING).exists()

    # The night of the ex-date applies it: 100 -> 200 shares, the order 60 -> 120; then it goes out.
    corporate_actions_process(as_of=ex, acting_user=user)
    sell.refresh_from_db()
    assert sell.quantity == D(120) and action.security_id == xyz.pk
    assert split_held_securities(at(after, 10)) == set()
    assert sandbox.relay(now=at(after, 10)).sent == 1
    sell.refresh_from_db()
    assert sell.status == "submitted"
    assert D(sandbox.sandbox.get(sell.client_order_id)[1]["quantity"]) == 120


@pytest.mark.parametrize("scheduled", [False, True], ids=["rows", "packed"])
def test_a_split_adjusts_an_open_proposals_trades_and_approving_it_trades_post_split_shares(
    alice_household, securities, sandbox, scheduled
):
    """A proposal planned before a split and approved after it trades the shares of the day it is
    approved: 2-for-1 on VTI, the proposal's 19 VTI sold at 200 become 38 at 100, the amount
    unchanged, and the order placed is for 38. The nightly scan's proposal (`scheduled`) packs
    its trades: the split unpacks them into rows (as proposed) and adjusts those the same way."""
    from tests.trading.factories import model_of
    from trading.models import RebalanceProposal
    from trading.services import proposal_approve, proposal_create_for_accounts

    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    account = account_with(alice_household, cash="10.00", positions=[("VTI", "50", "150")], model=model)
    user = system_user()
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=user, scheduled=scheduled)
    planned = {t.symbol: t for t in proposal.trade_list}
    assert proposal.trades.exists() is not scheduled
    sell = planned["VTI"]
    assert (sell.side, sell.quantity, sell.estimated_amount) == ("sell", D(19), D("3800.00"))
    buy_before = planned["BND"]
    ex = date.today() + timedelta(days=1)
    action = corporate_action_create(
        security=securities["VTI"], kind="split", ex_date=ex, ratio_numerator=2, ratio_denominator=1, acting_user=user
    )

    corporate_actions_process(as_of=ex, acting_user=user)

    proposal.refresh_from_db()
    assert proposal.packed_trades == ""  # rows now (or all along)
    sell = proposal.trades.get(symbol="VTI")
    assert (sell.quantity, sell.price, sell.estimated_amount) == (D(38), D("100.000000"), D("3800.00"))
    # The trade's history starts at this first change: as proposed (the proposal's time and
    # user), then the split's adjustment; the trade it did not change has none.
    proposed, adjusted = sell.history.order_by("history_date", "history_id")
    assert (proposed.history_type, proposed.quantity, proposed.price, proposed.estimated_amount) == (
        "+",
        D(19),
        D("200.000000"),
        D("3800.00"),
    )
    assert (proposed.history_date, proposed.history_user_id, proposed.history_change_reason) == (
        proposal.created_at,
        proposal.created_by_id,
        "proposed",
    )
    assert (adjusted.history_type, adjusted.quantity, adjusted.history_change_reason) == (
        "~",
        D(38),
        f"2-for-1 split #{action.pk}",
    )
    buy = proposal.trades.get(symbol="BND")
    assert not buy.history.exists()
    assert (buy.quantity, buy.estimated_amount) == (buy_before.quantity, buy_before.estimated_amount)
    assert Position.objects.get(account=account, security=securities["VTI"]).quantity == D(100)
    proposal.refresh_from_db()
    assert proposal.status == RebalanceProposal.Status.PROPOSED

    orders = proposal_approve(proposal=proposal, acting_user=user)

    assert [(o.side, o.security.symbol, o.quantity) for o in orders] == [("sell", "VTI", D(38)), ("buy", "BND", D(54))]


def test_a_reverse_split_that_leaves_a_proposals_trade_with_nothing_expires_the_proposal(alice_household, securities):
    from tests.trading.factories import model_of
    from trading.models import RebalanceProposal
    from trading.services import proposal_create_for_accounts

    # 100 VTI at 200 against 92/8: the plan sells 8 VTI (8 / 10 is nothing after a 1-for-10
    # reverse split) to buy BND.
    model = model_of(alice_household.firm, {"VTI": "0.92", "BND": "0.08"})
    account = account_with(alice_household, cash="0.00", positions=[("VTI", "100", "150")], model=model)
    user = system_user()
    (proposal,) = proposal_create_for_accounts(account_ids=[account.pk], acting_user=user)
    assert [(t.side, t.symbol, t.quantity) for t in proposal.trades.all()][0] == ("sell", "VTI", D(8))
    action = reverse_split_1_for_10_tomorrow(securities["VTI"], cash_in_lieu_price="2000.00", acting_user=user)

    proposal.refresh_from_db()
    assert proposal.status == RebalanceProposal.Status.EXPIRED
    assert proposal.notes[-1] == f"1-for-10 reverse split #{action.pk}: the trade in VTI was left with nothing."
    assert (
        proposal.history.first().history_change_reason
        == f"1-for-10 reverse split #{action.pk}: a trade left with nothing"
    )


def test_a_change_of_fractional_shares_reaches_the_custodian_through_the_outbox(
    sandbox, advisor_account, alice, django_capture_on_commit_callbacks
):
    """The custodian keeps a split's fractions for an account it knows trades them: a change of
    the setting goes out as an outbox message (sent once the change commits, retried while the
    custodian is down, with the setting as it is when sent); a save that changes nothing else
    sends nothing."""
    from portfolios.services import account_update

    number = advisor_account.custodian_account_number
    book = sandbox.sandbox._book(number)
    assert book.fractional_shares is None  # never told

    with django_capture_on_commit_callbacks():
        account_update(account=advisor_account, acting_user=alice.user, fractional_shares=True)
    [message] = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ACCOUNT_SETTINGS)
    assert message.account_id == advisor_account.pk and message.status == OutboxMessage.Status.PENDING

    from trading.adapters.custodian import RestCustodian

    down = RestCustodian("http://127.0.0.1:9", retries=0, timeout=2, sleep=lambda s: None)  # nothing listens
    sandbox.relay(custodian=down)
    message.refresh_from_db()
    assert (message.status, message.attempts, book.fractional_shares) == (OutboxMessage.Status.PENDING, 1, None)

    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    sandbox.relay()
    message.refresh_from_db()
    assert (message.status, book.fractional_shares) == (OutboxMessage.Status.SENT, True)

    account_update(account=advisor_account, acting_user=alice.user, fractional_shares=True, drift_threshold="0.04")
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ACCOUNT_SETTINGS).count() == 1  # unchanged: nothing
    account_update(account=advisor_account, acting_user=alice.user, fractional_shares=False)
    sandbox.relay()
    assert book.fractional_shares is False
