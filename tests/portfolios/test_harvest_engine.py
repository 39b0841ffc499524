"""Tax-loss harvesting engine (pure): thresholds, substitutes, the household wash-sale rule, budgets."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolios.engine import Lot
from portfolios.engine.harvest import (
    HarvestAccount,
    HarvestHolding,
    HarvestSnapshot,
    allocation_after,
    plan_harvest,
)
from portfolios.engine.wash_sales import Acquisition, LossSale, wash_sale_matches

D = Decimal
TODAY = date(2026, 12, 1)
PRICES = {"VTI": D("200"), "SCHB": D("48.70"), "BND": D("70"), "AGG": D("95")}


def _taxable(holdings, *, account_id=1, cash="0", budget=None, gain="0"):
    return HarvestAccount(
        account_id=account_id,
        tax_deferred=False,
        cash=D(cash),
        holdings=tuple(holdings),
        substitutes={"VTI": "SCHB", "BND": "AGG"},
        realised_gain_this_year=D(gain),
        gains_budget=None if budget is None else D(budget),
    )


def _snapshot(accounts, *, acquisitions=(), loss_sales=(), amount="1000", percent="0.10"):
    return HarvestSnapshot(
        household_id=1,
        as_of=TODAY,
        accounts=tuple(accounts),
        prices=PRICES,
        threshold_amount=D(amount),
        threshold_percent=D(percent),
        acquisitions=tuple(acquisitions),
        loss_sales=tuple(loss_sales),
    )


VTI_AT_LOSS = HarvestHolding(
    "VTI",
    D("300"),
    D("200"),
    (Lot(11, D("300"), D("250"), TODAY - timedelta(days=200)),),
    D("0.6"),
)
BND_ON_TARGET = HarvestHolding(
    "BND", D("571"), D("70"), (Lot(12, D("571"), D("69"), TODAY - timedelta(days=400)),), D("0.4")
)


def test_a_harvest_keeps_the_allocation_within_bands_through_its_substitute():
    """300 VTI bought at 250, now 200: a loss of 15,000 (20% of cost) passes 1,000 and 10%.

    By hand: sell 300 VTI for 60,000.00; buy SCHB at 48.70: 60,000 / 48.70 = 1,232.03 -> 1,232
    shares for 59,998.40, 1.60 left in cash. The account (60,000 + 39,970 + 30 cash = 100,000) keeps
    VTI's 60% slot at 59,998.40 / 100,000 = 59.9984%, BND at 39.97%, cash 0.0316%: all inside 5 points."""
    account = _taxable([VTI_AT_LOSS, BND_ON_TARGET], cash="30")
    plan = plan_harvest(_snapshot([account]))
    [harvest] = plan.harvests
    assert (harvest.symbol, harvest.substitute, harvest.loss) == ("VTI", "SCHB", D("15000.00"))
    assert (harvest.sell.quantity, harvest.sell.estimated_amount, harvest.sell.realised_gain) == (
        D("300"),
        D("60000.00"),
        D("-15000.00"),
    )
    assert harvest.buy is not None and (harvest.buy.quantity, harvest.buy.estimated_amount) == (
        D("1232"),
        D("59998.40"),
    )
    weights = allocation_after(account, plan, PRICES)
    assert weights["VTI"] == D("59998.40") / D("100000")
    assert weights["BND"] == D("39970") / D("100000")
    assert weights["CASH"] == D("31.60") / D("100000")
    assert abs(weights["VTI"] - D("0.6")) <= D("0.05") and abs(weights["BND"] - D("0.4")) <= D("0.05")


def test_thresholds_are_met_at_the_limit_and_missed_a_cent_below():
    # 100 shares at 222.23 now 200: 22.23 a share = 10.0031% of cost; 2,223.00 together.
    holding = HarvestHolding("VTI", D("100"), D("200"), (Lot(1, D("100"), D("222.23"), TODAY),), D("1"))
    assert plan_harvest(_snapshot([_taxable([holding])], amount="2223.00")).harvests
    assert not plan_harvest(_snapshot([_taxable([holding])], amount="2223.01")).harvests
    # 10% exactly of 222.22 is 22.222: a loss of 22.22 a share is under it.
    under = HarvestHolding("VTI", D("100"), D("200"), (Lot(1, D("100"), D("222.22"), TODAY),), D("1"))
    assert not plan_harvest(_snapshot([_taxable([under])], amount="0")).harvests


def test_a_purchase_in_the_spouses_ira_ten_days_before_blocks_the_harvest():
    ira_buy = Acquisition(99, 99, 2, "VTI", TODAY - timedelta(days=10), D("5"))
    plan = plan_harvest(_snapshot([_taxable([VTI_AT_LOSS])], acquisitions=[ira_buy]))
    assert plan.harvests == () and "bought in the household within 30 days" in plan.notes[0]
    # 31 days before: outside the window.
    old = Acquisition(99, 99, 2, "VTI", TODAY - timedelta(days=31), D("5"))
    assert plan_harvest(_snapshot([_taxable([VTI_AT_LOSS])], acquisitions=[old])).harvests


def test_a_substitute_sold_at_a_loss_in_the_last_30_days_is_not_bought_back():
    schb_loss = LossSale(7, 70, 2, "SCHB", TODAY - timedelta(days=30), D("10"), D("3"))
    plan = plan_harvest(_snapshot([_taxable([VTI_AT_LOSS])], loss_sales=[schb_loss]))
    assert plan.harvests == () and "would wash" in plan.notes[0]


def test_iras_are_never_harvested():
    ira = HarvestAccount(3, tax_deferred=True, cash=D(0), holdings=(VTI_AT_LOSS,), substitutes={"VTI": "SCHB"})
    assert plan_harvest(_snapshot([ira])).harvests == ()


lots = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=500),  # quantity
        st.decimals(min_value=D("50"), max_value=D("400"), places=2),  # cost
        st.integers(min_value=0, max_value=400),  # days ago
    ),
    min_size=1,
    max_size=4,
)


@given(
    vti_lots=lots,
    bnd_lots=lots,
    acquired=st.lists(
        st.tuples(
            st.sampled_from(["VTI", "SCHB", "BND", "AGG"]),
            st.integers(min_value=1, max_value=3),
            st.integers(min_value=0, max_value=45),
        ),
        max_size=4,
    ),
    sold=st.lists(
        st.tuples(
            st.sampled_from(["VTI", "SCHB", "BND", "AGG"]),
            st.integers(min_value=1, max_value=3),
            st.integers(min_value=0, max_value=45),
        ),
        max_size=4,
    ),
    gain=st.decimals(min_value=D("-5000"), max_value=D("50000"), places=2),
    budget=st.one_of(st.none(), st.decimals(min_value=D("0"), max_value=D("20000"), places=2)),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_harvesting_never_creates_a_wash_sale_and_never_exceeds_the_gains_budget(
    vti_lots, bnd_lots, acquired, sold, gain, budget
):
    def holding(symbol, rows, first_id):
        built = tuple(
            Lot(first_id + i, D(q), cost, TODAY - timedelta(days=ago)) for i, (q, cost, ago) in enumerate(rows)
        )
        return HarvestHolding(symbol, sum((lot.quantity for lot in built), D(0)), PRICES[symbol], built)

    taxable = _taxable([holding("VTI", vti_lots, 100), holding("BND", bnd_lots, 200)], budget=budget, gain=str(gain))
    spouse = _taxable([holding("VTI", vti_lots, 300)], account_id=2)
    acquisitions = [
        Acquisition(f"a{i}", f"a{i}", account, symbol, TODAY - timedelta(days=ago), D(5))
        for i, (symbol, account, ago) in enumerate(acquired)
    ]
    loss_sales = [
        LossSale(f"s{i}", f"p{i}", account, symbol, TODAY - timedelta(days=ago), D(5), D(1))
        for i, (symbol, account, ago) in enumerate(sold)
    ]
    plan = plan_harvest(_snapshot([taxable, spouse], acquisitions=acquisitions, loss_sales=loss_sales, amount="100"))
    # Every sale the plan makes at a loss, and every purchase it makes, with the household's history:
    new_sales = [
        LossSale(
            f"h{h.account_id}:{ls.lot_id}",
            ls.lot_id,
            h.account_id,
            h.symbol,
            TODAY,
            ls.quantity,
            -ls.realised_gain / ls.quantity,
        )
        for h in plan.harvests
        for ls in h.sell.lot_sales
    ]
    new_buys = [
        Acquisition(f"b{n}", f"b{n}", h.account_id, h.substitute, TODAY, h.buy.quantity)
        for n, h in enumerate(plan.harvests)
        if h.buy is not None
    ]
    # Lots the plan sells are not replacement shares of its own sales (their purchase ids match).
    held_lots = [
        Acquisition(lot.lot_id, lot.lot_id, account.account_id, h.symbol, lot.acquired_on, lot.quantity)
        for account in (taxable, spouse)
        for h in account.holdings
        for lot in h.lots
        if (TODAY - lot.acquired_on).days <= 30
    ]
    matches = wash_sale_matches(loss_sales + new_sales, acquisitions + held_lots + new_buys)
    new_sale_ids = {s.sale_id for s in new_sales}
    new_buy_ids = {b.lot_id for b in new_buys}
    assert not [m for m in matches if m.sale_id in new_sale_ids or m.lot_id in new_buy_ids], matches
    for account in (taxable, spouse):
        realised = sum((h.sell.realised_gain for h in plan.harvests if h.account_id == account.account_id), D(0))
        assert realised <= 0
        if account.gains_budget is not None:
            assert account.realised_gain_this_year + realised <= max(
                account.gains_budget, account.realised_gain_this_year
            )


@given(
    vti_cost=st.decimals(min_value=D("150"), max_value=D("400"), places=2),
    vti_qty=st.integers(min_value=1, max_value=2000),
    bnd_qty=st.integers(min_value=0, max_value=3000),
    cash=st.integers(min_value=0, max_value=5000),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_harvested_account_keeps_every_slot_within_one_substitute_share_of_its_weight(
    vti_cost, vti_qty, bnd_qty, cash
):
    """The substitute takes the security's slot: no weight moves by more than one share of the
    substitute (the whole-share rounding), so an account inside its bands stays inside them
    whenever one share is smaller than its margin to the band."""
    vti = HarvestHolding("VTI", D(vti_qty), PRICES["VTI"], (Lot(1, D(vti_qty), vti_cost, TODAY - timedelta(days=90)),))
    bnd = HarvestHolding("BND", D(bnd_qty), PRICES["BND"], (Lot(2, D(bnd_qty), D("60"), TODAY - timedelta(days=90)),))
    account = _taxable([vti, bnd], cash=str(cash))
    plan = plan_harvest(_snapshot([account], amount="0"))
    empty = plan_harvest(_snapshot([account], amount="1e12"))
    before, after = allocation_after(account, empty, PRICES), allocation_after(account, plan, PRICES)
    total = D(vti_qty) * PRICES["VTI"] + D(bnd_qty) * PRICES["BND"] + D(cash)
    for slot in before:
        assert abs(after[slot] - before[slot]) <= PRICES["SCHB"] / total


def _after_a_reverse_split(*, fractional_shares: bool) -> HarvestAccount:
    """31 VTI in three lots, then a 1:4 reverse split: 7.75 shares, 7 kept (whole shares) and
    0.75 paid in lieu from the costliest lot -- lots of 2.5, 2.5 and 2.0, the position whole,
    the lots not. Each lot now at a loss (cost 1,000 and 1,100 a share, price 800)."""
    lots = (
        Lot(21, D("2.5"), D("1100"), TODAY - timedelta(days=300)),
        Lot(22, D("2.5"), D("1000"), TODAY - timedelta(days=250)),
        Lot(23, D("2.0"), D("1000"), TODAY - timedelta(days=200)),
    )
    quantity = D("7.75") if fractional_shares else D("7")
    if fractional_shares:
        lots = (Lot(21, D("2.75"), D("1100"), TODAY - timedelta(days=300)), *lots[1:])
    holding = HarvestHolding("VTI", quantity, D("800"), lots, D("0.6"))
    return replace(_taxable([holding], cash="30"), fractional_shares=fractional_shares, substitutes={"VTI": "SCHB"})


def test_a_whole_share_account_with_fractional_lots_sells_whole_shares():
    """Only the costliest lot (2.5 shares at 1,100, 27% down) passes a 25% threshold. Selling it
    whole would sell 2.5 shares of a whole-share account and leave 4.5 -- which the custodian
    counts as a fractional holding at the next split (the year's run: half a share apart). The
    sale is 2 shares, 2 of the lot relieved: a loss of 2 x 300 = 600.00, 5 whole shares left."""
    account = _after_a_reverse_split(fractional_shares=False)
    plan = plan_harvest(_snapshot([account], amount="100", percent="0.25"))
    [harvest] = plan.harvests
    assert harvest.sell.quantity == D("2")
    assert [(s.lot_id, s.quantity) for s in harvest.sell.lot_sales] == [(21, D("2"))]
    assert harvest.loss == D("600.00")  # 2 x (1,100 - 800)
    left = account.holdings[0].quantity - harvest.sell.quantity
    assert left == left.to_integral_value()


def test_a_fractional_share_account_sells_its_lots_exactly():
    account = _after_a_reverse_split(fractional_shares=True)
    plan = plan_harvest(_snapshot([account], amount="100", percent="0.25"))
    [harvest] = plan.harvests
    assert harvest.sell.quantity == D("2.75")
    assert [(s.lot_id, s.quantity) for s in harvest.sell.lot_sales] == [(21, D("2.75"))]


def test_a_whole_share_account_with_under_a_share_at_a_loss_harvests_nothing():
    lot = Lot(31, D("0.5"), D("1100"), TODAY - timedelta(days=300))
    rest = Lot(32, D("6.5"), D("700"), TODAY - timedelta(days=300))
    holding = HarvestHolding("VTI", D("7"), D("800"), (lot, rest), D("0.6"))
    account = replace(_taxable([holding], cash="30"), substitutes={"VTI": "SCHB"})
    assert plan_harvest(_snapshot([account], amount="100", percent="0.15")).harvests == ()
