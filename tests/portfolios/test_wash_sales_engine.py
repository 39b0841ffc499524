"""The pure wash-sale and lot engines, against hand computation and a brute-force reference."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from portfolios.engine import Lot
from portfolios.engine.lots import ReliefMethod, Term, holding_term, one_year_anniversary, relief_order
from portfolios.engine.wash_sales import (
    Acquisition,
    LossSale,
    in_wash_window,
    proposed_purchase_wash,
    proposed_sale_wash,
    wash_sale_matches,
)

D = Decimal
TODAY = date(2026, 6, 15)


def test_the_issue_example_disallows_100_dollars_through_the_recent_purchase():
    # 100 @ $50 in 2020 (lot 1), 10 @ $45 ten days ago (lot 2); 44 of lot 1 sold at $40.
    sale = LossSale("s", 1, "acct", "XYZ", TODAY, D(44), D(50) - D(40), held_days=(TODAY - date(2020, 3, 2)).days)
    replacement = Acquisition(2, 2, "acct", "XYZ", TODAY - timedelta(days=10), D(10))
    [match] = proposed_sale_wash(sales=[sale], acquisitions=[replacement])
    assert (match.lot_id, match.quantity, match.disallowed) == (2, D(10), D("100.00"))
    assert match.held_days == (TODAY - date(2020, 3, 2)).days


def test_a_purchase_on_day_30_after_a_loss_sale_is_a_wash_sale_day_31_is_not():
    sale = LossSale("s", 1, "a", "X", TODAY, D(5), D(3))
    on_30 = proposed_purchase_wash(
        security_id="X", account_id="a", bought_on=TODAY + timedelta(days=30), quantity=D(5), sales=[sale]
    )
    on_31 = proposed_purchase_wash(
        security_id="X", account_id="a", bought_on=TODAY + timedelta(days=31), quantity=D(5), sales=[sale]
    )
    assert [m.disallowed for m in on_30] == [D("15.00")]
    assert on_31 == []
    assert in_wash_window(TODAY, TODAY - timedelta(days=30))
    assert not in_wash_window(TODAY, TODAY - timedelta(days=31))


def test_a_purchase_in_another_account_of_the_household_washes_the_loss():
    sale = LossSale("s", 1, "joint", "X", TODAY, D(20), D(2))
    spouse_ira = Acquisition(9, 9, "spouse-ira", "X", TODAY - timedelta(days=10), D(8))
    [match] = wash_sale_matches([sale], [spouse_ira])
    assert (match.lot_id, match.quantity, match.disallowed) == (9, D(8), D("16.00"))


def test_the_lot_sold_and_its_own_purchase_are_never_the_replacement():
    sale = LossSale("s", 7, "a", "X", TODAY, D(5), D(1))
    same_purchase = Acquisition(8, 7, "a", "X", TODAY - timedelta(days=3), D(5))  # split off purchase 7
    other_security = Acquisition(9, 9, "a", "Y", TODAY, D(5))
    assert wash_sale_matches([sale], [same_purchase, other_security]) == []


def test_gains_match_nothing_and_each_replacement_share_is_used_once():
    gain = LossSale("g", 1, "a", "X", TODAY, D(5), D(-1))
    first = LossSale("s1", 2, "a", "X", TODAY, D(4), D(1))
    second = LossSale("s2", 3, "a", "X", TODAY + timedelta(days=1), D(4), D(2))
    buy = Acquisition(5, 5, "a", "X", TODAY + timedelta(days=2), D(6))
    matches = wash_sale_matches([second, gain, first], [buy])
    assert [(m.sale_id, m.quantity, m.disallowed) for m in matches] == [
        ("s1", D(4), D("4.00")),
        ("s2", D(2), D("4.00")),
    ]


def test_one_year_and_one_day_is_long_term_exactly_one_year_is_short():
    bought = date(2025, 3, 10)
    assert holding_term(bought, date(2026, 3, 10)) == Term.SHORT
    assert holding_term(bought, date(2026, 3, 11)) == Term.LONG
    assert one_year_anniversary(date(2024, 2, 29)) == date(2025, 2, 28)
    assert holding_term(date(2024, 2, 29), date(2025, 2, 28)) == Term.SHORT
    assert holding_term(date(2024, 2, 29), date(2025, 3, 1)) == Term.LONG


LOTS = [
    Lot(1, D(10), D(50), date(2020, 1, 1)),  # loss 10/share at 40
    Lot(2, D(10), D(45), date(2026, 6, 5)),  # loss 5/share
    Lot(3, D(10), D(30), date(2021, 1, 1)),  # long-term gain 10/share
    Lot(4, D(10), D(38), date(2022, 1, 1)),  # long-term gain 2/share
    Lot(5, D(10), D(39), date(2026, 1, 1)),  # short-term gain 1/share
    Lot(6, D(10), D(35), date(2026, 2, 1)),  # short-term gain 5/share
]


def test_each_relief_method_orders_the_lots_as_expected():
    def ids(method):
        return [lot.lot_id for lot in relief_order(LOTS, method=method, price=D(40), on=TODAY)]

    assert ids(ReliefMethod.HIFO) == [1, 2, 5, 4, 6, 3]
    assert ids(ReliefMethod.FIFO) == [1, 3, 4, 5, 6, 2]
    assert ids(ReliefMethod.TAX_OPTIMISED) == [1, 2, 4, 3, 5, 6]


def test_a_wash_sale_carried_holding_period_makes_a_recent_lot_long_term():
    moved = Lot(5, D(10), D(39), date(2026, 1, 1), held_from=date(2024, 1, 1))
    order = relief_order([*LOTS[:4], moved, LOTS[5]], method=ReliefMethod.TAX_OPTIMISED, price=D(40), on=TODAY)
    assert [lot.lot_id for lot in order] == [1, 2, 5, 4, 3, 6]


# --- property: the matching agrees with a share-by-share brute force ----------------------------


def _brute_force(sales, acquisitions, days=30):
    """Independent reference: every share of every loss sale, in time order, takes the first
    free share bought within the window (not of its own purchase); then totals per pair."""
    shares = []  # [acquisition, used]
    for a in sorted(acquisitions, key=lambda a: (a.acquired_on, a.lot_id)):
        shares += [[a, False] for _ in range(int(a.quantity))]
    pairs = defaultdict(int)
    for s in sorted(sales, key=lambda s: (s.sold_on, s.sale_id)):
        if s.loss_per_share <= 0:
            continue
        for _ in range(int(s.quantity)):
            for share in shares:
                a, used = share
                if (
                    not used
                    and a.security_id == s.security_id
                    and a.purchase_id != s.purchase_id
                    and -days <= (a.acquired_on - s.sold_on).days <= days
                ):
                    share[1] = True
                    pairs[(s.sale_id, a.lot_id)] += 1
                    break
    loss = {s.sale_id: s.loss_per_share for s in sales}
    return {key: (D(n), (n * loss[key[0]]).quantize(D("0.01"), ROUND_HALF_EVEN)) for key, n in pairs.items()}


day = st.integers(min_value=0, max_value=120).map(lambda n: date(2026, 1, 1) + timedelta(days=n))
security = st.sampled_from(["X", "Y"])
purchase = st.integers(min_value=1, max_value=6)


@st.composite
def histories(draw):
    acquisitions = [
        Acquisition(
            i,
            draw(purchase),
            draw(st.sampled_from(["a", "ira"])),
            draw(security),
            draw(day),
            D(draw(st.integers(0, 6))),
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    sales = [
        LossSale(
            i,
            draw(purchase),
            "a",
            draw(security),
            draw(day),
            D(draw(st.integers(0, 6))),
            D(draw(st.integers(-300, 900))) / 100,
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    return sales, acquisitions


@settings(max_examples=300, deadline=None)
@given(histories())
def test_wash_sale_matching_agrees_with_a_brute_force_reference(history):
    sales, acquisitions = history
    got = {(m.sale_id, m.lot_id): (m.quantity, m.disallowed) for m in wash_sale_matches(sales, acquisitions)}
    assert got == _brute_force(sales, acquisitions)


# --- the rebalancing engine ---------------------------------------------------------------------


def _issue_snapshot(recent_buys=()):
    from portfolios.engine import AccountSnapshot, Holding

    xyz = Holding(
        "XYZ",
        D(110),
        D(40),
        D("0.6"),
        lots=(Lot(1, D(100), D(50), date(2020, 3, 2)), Lot(2, D(10), D(45), TODAY - timedelta(days=10))),
        recent_buys=recent_buys,
    )
    bnd = Holding("BND", D(0), D(100), D("0.4"))
    return AccountSnapshot(account_id="joint", as_of=TODAY, currency="USD", cash=D(0), holdings=(bnd, xyz))


def test_the_plan_sells_44_from_the_old_lot_and_notes_the_100_dollars_disallowed():
    from portfolios.engine import generate_trades

    buys = (Acquisition(2, 2, "joint", "XYZ", TODAY - timedelta(days=10), D(10)),)
    plan = generate_trades(_issue_snapshot(buys))
    [sell] = [t for t in plan.trades if t.side == "sell"]
    assert (sell.symbol, sell.quantity, sell.realised_gain, sell.wash_sale_disallowed) == (
        "XYZ",
        D(44),
        D("-440.00"),
        D("100.00"),
    )
    assert [(s.lot_id, s.quantity, s.wash_sale_disallowed) for s in sell.lot_sales] == [(1, D(44), D("100.00"))]
    assert any("wash sale, 100.00 USD of the loss disallowed" in note for note in plan.notes)

    quiet = generate_trades(_issue_snapshot())
    assert [t.wash_sale_disallowed for t in quiet.trades] == [D(0), D(0)]
    assert not any("wash sale" in note for note in quiet.notes)
