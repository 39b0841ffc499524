"""Lots and wash sales through the real fill path: relief methods, the household-wide wash-sale
rule booked on the lots, and the pre-trade check that shows the disallowed loss."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from compliance.pretrade import OrderIntent, run_pretrade_checks
from portfolios.models import InvestmentAccount, LotClosure, TaxLot, WashSaleAdjustment
from tests.trading.factories import account_with, filled_trade, make_security, today
from trading import services
from trading.errors import TradingError

D = Decimal
pytestmark = pytest.mark.django_db


trade = filled_trade
OLD = date(2020, 3, 2)


@pytest.fixture
def xyz(db):
    return make_security("XYZ", "40")


@pytest.fixture
def joint(alice_household, xyz):
    return account_with(alice_household, cash="100000.00", account_type="joint")


@pytest.fixture
def spouse_ira(alice_household, xyz):
    return account_with(alice_household, cash="100000.00", account_type="traditional_ira")


def test_the_issue_example_disallows_100_and_adds_it_to_the_replacement_lot(joint, alice):
    trade(joint, "XYZ", "buy", "100", "50", OLD, alice.user)
    trade(joint, "XYZ", "buy", "10", "45", today() - timedelta(days=10), alice.user)
    sell = trade(joint, "XYZ", "sell", "44", "40", today(), alice.user)

    [closure] = LotClosure.objects.filter(lot__account=joint)
    assert closure.lot.acquired_on == OLD  # highest cost first: the $50 lot
    assert (closure.quantity, closure.proceeds, closure.cost, closure.gain) == (D(44), D("1760"), D("2200"), D("-440"))
    assert closure.wash_sale_disallowed == D("100.00")  # 10 replacement shares x $10 loss per share
    assert sell.realised_gain == D("-440.00")
    replacement = TaxLot.objects.get(account=joint, acquired_on=today() - timedelta(days=10))
    assert replacement.quantity == D(10) and replacement.cost_per_share == D("55")  # 450 + 100 over 10 shares
    assert replacement.wash_sale_adjustment == D("100.00")
    held = (today() - OLD).days
    assert replacement.held_from == today() - timedelta(days=10) - timedelta(days=held)
    adjustment = WashSaleAdjustment.objects.get()
    assert (adjustment.closure, adjustment.replacement, adjustment.quantity, adjustment.held_days) == (
        closure,
        replacement,
        D(10),
        held,
    )


def test_a_purchase_30_days_after_a_loss_sale_is_a_wash_sale_31_days_is_not(joint, alice, xyz):
    make_security("QQQ", "40")
    sold_on = today() - timedelta(days=60)
    for symbol, wait in (("XYZ", 30), ("QQQ", 31)):
        trade(joint, symbol, "buy", "10", "50", OLD, alice.user)
        trade(joint, symbol, "sell", "10", "40", sold_on, alice.user)
        trade(joint, symbol, "buy", "4", "42", sold_on + timedelta(days=wait), alice.user)

    xyz_sale = LotClosure.objects.get(lot__security__symbol="XYZ")
    qqq_sale = LotClosure.objects.get(lot__security__symbol="QQQ")
    assert xyz_sale.wash_sale_disallowed == D("40.00")  # 4 shares x $10
    assert qqq_sale.wash_sale_disallowed == D("0")
    assert TaxLot.objects.get(security__symbol="XYZ", acquired_on=sold_on + timedelta(days=30)).cost_per_share == D(52)
    assert TaxLot.objects.get(security__symbol="QQQ", acquired_on=sold_on + timedelta(days=31)).cost_per_share == D(42)


def test_a_purchase_in_the_spouses_ira_10_days_before_a_loss_sale_is_flagged_and_booked(joint, spouse_ira, alice):
    trade(joint, "XYZ", "buy", "100", "50", OLD, alice.user)
    trade(spouse_ira, "XYZ", "buy", "5", "44", today() - timedelta(days=10), alice.user)

    intent = OrderIntent(
        account=joint, security=joint_security(), side="sell", quantity=D(20), amount=None, price=D(40)
    )
    [check] = [r for r in run_pretrade_checks(intent) if r.rule == "wash_sale"]
    assert check.outcome == "warn"
    assert "5 shares were bought" in check.message and "50.00 USD of the loss is disallowed" in check.message
    assert spouse_ira.name in check.message

    trade(joint, "XYZ", "sell", "20", "40", today(), alice.user)
    assert LotClosure.objects.get(lot__account=joint).wash_sale_disallowed == D("50.00")
    ira_lot = TaxLot.objects.get(account=spouse_ira)
    assert ira_lot.cost_per_share == D("54") and ira_lot.wash_sale_adjustment == D("50.00")


def joint_security():
    from portfolios.models import Security

    return Security.objects.get(symbol="XYZ")


def test_a_buy_flagged_30_days_after_a_loss_sale_in_another_account_not_31(joint, spouse_ira, alice, xyz):
    trade(joint, "XYZ", "buy", "10", "50", OLD, alice.user)
    trade(joint, "XYZ", "sell", "10", "40", today() - timedelta(days=30), alice.user)

    def check(account):
        intent = OrderIntent(account=account, security=xyz, side="buy", quantity=D(3), amount=None, price=D(40))
        return next(r for r in run_pretrade_checks(intent) if r.rule == "wash_sale")

    flagged = check(spouse_ira)
    assert flagged.outcome == "warn" and "30.00 USD of that loss disallowed" in flagged.message
    assert (today() - timedelta(days=30)).isoformat() in flagged.message and joint.name in flagged.message

    LotClosure.objects.update(closed_on=today() - timedelta(days=31))  # the same sale, a day earlier
    assert check(spouse_ira).outcome == "pass"


def test_a_split_replacement_keeps_the_rest_of_the_purchase_in_its_lot(joint, alice):
    trade(joint, "XYZ", "buy", "10", "50", OLD, alice.user)
    trade(joint, "XYZ", "buy", "30", "41", today() - timedelta(days=5), alice.user)
    trade(joint, "XYZ", "sell", "10", "40", today(), alice.user, lot_selection={"method": "fifo"})

    rest, replacement = TaxLot.objects.filter(account=joint, acquired_on=today() - timedelta(days=5)).order_by("id")
    assert (rest.quantity, rest.original_quantity, rest.cost_per_share) == (D(20), D(20), D(41))
    assert (replacement.quantity, replacement.cost_per_share, replacement.split_from) == (D(10), D(51), rest)
    assert LotClosure.objects.get().wash_sale_disallowed == D("100.00")


# --- lot relief methods ---------------------------------------------------------------------------


@pytest.fixture
def four_lots(joint, alice):
    """At $40: a $50 loss lot (2020), a $45 loss lot (2021), a long-term gain lot at $30 (2021),
    a short-term gain lot at $39 (60 days ago) — far from today's sale's wash-sale window."""
    trade(joint, "XYZ", "buy", "10", "50", date(2020, 5, 1), alice.user)
    trade(joint, "XYZ", "buy", "10", "45", date(2021, 5, 1), alice.user)
    trade(joint, "XYZ", "buy", "10", "30", date(2021, 6, 1), alice.user)
    trade(joint, "XYZ", "buy", "10", "39", today() - timedelta(days=60), alice.user)
    return {lot.cost_per_share: lot.pk for lot in TaxLot.objects.filter(account=joint)}


def _sold(joint):
    return [(c.lot.cost_per_share, c.quantity) for c in LotClosure.objects.filter(lot__account=joint).order_by("id")]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("hifo", [(D(50), D(10)), (D(45), D(10)), (D(39), D(5))]),
        ("fifo", [(D(50), D(10)), (D(45), D(10)), (D(30), D(5))]),
        ("tax_optimised", [(D(50), D(10)), (D(45), D(10)), (D(30), D(5))]),
    ],
)
def test_the_accounts_relief_method_picks_the_expected_lots(joint, alice, four_lots, method, expected):
    InvestmentAccount.objects.filter(pk=joint.pk).update(lot_relief_method=method)
    joint.refresh_from_db()
    trade(joint, "XYZ", "sell", "25", "40", today(), alice.user)
    assert _sold(joint) == expected


def test_tax_optimised_takes_long_term_gains_before_short_term(joint, alice, four_lots):
    joint.lot_relief_method = "tax_optimised"
    joint.save()
    trade(joint, "XYZ", "sell", "35", "40", today(), alice.user)
    # losses (10 at $10, 10 at $5), long-term gain ($10/share), then short-term gain ($1/share)
    assert _sold(joint) == [(D(50), D(10)), (D(45), D(10)), (D(30), D(10)), (D(39), D(5))]


def test_specific_lots_named_on_the_order_are_relieved_across_partial_fills(joint, alice, four_lots):
    selection = {
        "method": "specific",
        "lots": [{"id": four_lots[D(30)], "quantity": "4"}, {"id": four_lots[D(39)], "quantity": "2"}],
    }
    order = services.order_create(
        account=joint,
        security="XYZ",
        side="sell",
        quantity=D(6),
        acting_user=alice.user,
        source="advisor",
        lot_selection=selection,
    )
    assert order.lot_selection == {
        "method": "specific",
        "lots": [{"id": four_lots[D(30)], "quantity": "4"}, {"id": four_lots[D(39)], "quantity": "2"}],
    }
    services.order_transition(order, "submitted", acting_user=alice.user)
    for n, quantity in enumerate(("3", "3")):
        services.execution_apply(
            fill=services.Fill(order.client_order_id, f"S{n}", D(quantity), D(40), today()), acting_user=alice.user
        )
    assert _sold(joint) == [(D(30), D(3)), (D(30), D(1)), (D(39), D(2))]


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"method": "lifo"}, "must be one of"),
        ({"method": "specific"}, "needs the lots"),
        ({"method": "specific", "lots": [{"id": 999999, "quantity": "6"}]}, "is not an open XYZ lot"),
        ({"method": "specific", "lots": [{"id": "LOT30", "quantity": "5"}]}, "add up to 5, not the order's 6"),
        ({"method": "specific", "lots": [{"id": "LOT30", "quantity": "11"}]}, "holds 10 shares"),
        ({"method": "specific", "lots": [{"id": "LOT30", "quantity": "-6"}]}, "must be positive"),
        ({"method": "specific", "lots": [{"id": "LOT30"}]}, 'needs an "id" and a "quantity"'),
        ({"method": "fifo", "lots": [{"id": "LOT30", "quantity": "6"}]}, 'only with the method "specific"'),
    ],
)
def test_a_bad_lot_selection_is_refused_on_its_field(joint, alice, four_lots, selection, message):
    for item in selection.get("lots", []):
        if item.get("id") == "LOT30":
            item["id"] = four_lots[D(30)]
    with pytest.raises(TradingError) as refused:
        services.order_create(
            account=joint,
            security="XYZ",
            side="sell",
            quantity=D(6),
            acting_user=alice.user,
            source="advisor",
            lot_selection=selection,
        )
    assert refused.value.field == "lot_selection" and message in str(refused.value)


def test_a_lot_of_another_account_cannot_be_named(joint, spouse_ira, alice, four_lots):
    trade(spouse_ira, "XYZ", "buy", "10", "30", OLD, alice.user)
    other = TaxLot.objects.get(account=spouse_ira)
    with pytest.raises(TradingError, match="is not an open XYZ lot of this account"):
        services.order_create(
            account=joint,
            security="XYZ",
            side="sell",
            quantity=D(6),
            acting_user=alice.user,
            source="advisor",
            lot_selection={"method": "specific", "lots": [{"id": other.pk, "quantity": "6"}]},
        )


# --- the rebalancing engine, household-wide -------------------------------------------------------


@pytest.fixture(params=["pg", "orm"])
def snapshot_path(request, monkeypatch):
    from portfolios.selectors import snapshots

    if request.param == "orm":
        monkeypatch.setattr(snapshots, "_engine_snapshots_pg", snapshots._engine_snapshots_orm)
    return request.param


def test_a_loss_sale_in_the_spouses_ira_blocks_the_repurchase_in_the_joint_account(
    alice_household, alice, securities, snapshot_path
):
    from accounts.services import system_user
    from tests.trading.factories import model_of

    ira = account_with(alice_household, cash="1000.00", account_type="traditional_ira")
    trade(ira, "AAPL", "buy", "2", "200", OLD, alice.user)
    trade(ira, "AAPL", "sell", "2", "150", today() - timedelta(days=30), alice.user)
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    joint = account_with(alice_household, cash="10000.00", model=model)
    (proposal,) = services.proposal_create_for_accounts(account_ids=[joint.pk], acting_user=system_user())
    assert [(t.side, t.symbol) for t in proposal.trades.all()] == [("buy", "BND")]
    assert any("AAPL was sold at a loss" in note and "wash sale" in note for note in proposal.notes)


def test_the_proposal_notes_the_loss_a_household_purchase_disallows(
    alice_household, alice, securities, xyz, snapshot_path
):
    from accounts.services import system_user
    from tests.trading.factories import model_of

    model = model_of(alice_household.firm, {"XYZ": "0.6", "BND": "0.4"})
    joint = account_with(alice_household, cash="5450.00", model=model)
    ira = account_with(alice_household, cash="1000.00", account_type="roth_ira")
    trade(joint, "XYZ", "buy", "100", "50", OLD, alice.user)
    trade(ira, "XYZ", "buy", "10", "45", today() - timedelta(days=10), alice.user)
    trade(joint, "XYZ", "buy", "10", "45", today() - timedelta(days=10), alice.user)
    # the joint account's cash is now 0: 110 XYZ at $40 = $4,400, against 60% XYZ / 40% BND
    (proposal,) = services.proposal_create_for_accounts(account_ids=[joint.pk], acting_user=system_user())
    [sell] = [t for t in proposal.trades.all() if t.side == "sell"]
    assert sell.quantity == D(44)
    # 44 sold from the $50 lot at a $10 loss; 20 shares bought in the household (IRA and joint)
    # in the last 10 days: 20 x $10 disallowed.
    assert any("wash sale, 200.00 USD of the loss disallowed" in note for note in proposal.notes)
