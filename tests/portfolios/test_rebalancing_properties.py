"""Properties of the rebalancing engine over thousands of random accounts (hypothesis)."""

from datetime import date, timedelta
from decimal import ROUND_DOWN
from decimal import Decimal as D

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portfolios.engine import (
    AccountSnapshot,
    BandMode,
    Holding,
    Lot,
    calculate_drift,
    decide,
    generate_trades,
)

AS_OF = date(2025, 6, 2)
CENT = D("0.01")
PROPERTY = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])

prices = st.integers(min_value=100, max_value=50_000).map(lambda cents: D(cents) / 100)  # $1.00 - $500.00
quantities = st.one_of(
    st.integers(min_value=0, max_value=2_000).map(D),
    st.integers(min_value=0, max_value=2_000_000).map(lambda thousandths: D(thousandths) / 1000),
)


@st.composite
def accounts(draw, *, constrained: bool = True, flows: bool = False) -> AccountSnapshot:
    """A random account. `constrained=False` adds restricted securities, wash sales and minimum trades,
    and allows a reserve above the cash target."""
    n = draw(st.integers(min_value=1, max_value=8))
    symbols = draw(st.lists(st.sampled_from("ABCDEFGHIJKLMNOP"), min_size=n, max_size=n, unique=True))
    # Targets in basis points summing to 10,000 with the cash target; some securities outside the model.
    parts = draw(st.lists(st.integers(min_value=0, max_value=100), min_size=n + 1, max_size=n + 1))
    if sum(parts) == 0:
        parts[0] = 1
    bps = [p * 10_000 // sum(parts) for p in parts]
    bps[0] += 10_000 - sum(bps)
    cash_target = D(bps[-1]) / 10_000
    holdings = []
    for i, symbol in enumerate(symbols):
        quantity = draw(quantities)
        price = draw(prices)
        lots = ()
        if quantity and draw(st.booleans()):
            first = (quantity / 2).quantize(D("0.001"))
            lots = (
                Lot(1, first, draw(prices), date(2020, 1, 1)),
                Lot(2, quantity - first, draw(prices), date(2021, 1, 1)),
            )
        restricted = not constrained and draw(st.integers(0, 9)) == 0
        loss_sale = None if constrained or draw(st.integers(0, 9)) else AS_OF - timedelta(days=draw(st.integers(0, 60)))
        holdings.append(
            Holding(
                symbol, quantity, price, D(bps[i]) / 10_000, lots, restricted=restricted, last_loss_sale_on=loss_sale
            )
        )
    cash = D(draw(st.integers(min_value=0, max_value=20_000_000))) / 100
    if constrained:
        reserve = min(cash_target, draw(st.sampled_from([D(0), D("0.01"), D("0.02"), D("0.05")])))
    else:
        reserve = draw(st.sampled_from([D(0), D("0.01"), D("0.05"), D("0.2")]))
    return AccountSnapshot(
        account_id=1,
        as_of=AS_OF,
        currency="USD",
        cash=cash,
        holdings=tuple(holdings),
        cash_target=cash_target,
        threshold=draw(st.sampled_from([D("0.02"), D("0.05"), D("0.10")])),
        band_mode=draw(st.sampled_from(list(BandMode))),
        relative_band=draw(st.sampled_from([D("0.1"), D("0.25"), D("0.5")])),
        cash_reserve=reserve,
        min_trade_amount=D(0) if constrained else draw(st.sampled_from([D(0), D(25), D(500)])),
        fractional_shares=draw(st.booleans()),
        quantity_places=draw(st.sampled_from([3, 6, 9])),
        external_flow=D(draw(st.integers(-5_000_000, 5_000_000))) / 100 if flows else D(0),
        commission_per_trade=D(0) if constrained else draw(st.sampled_from([D(0), D("1.00")])),
    )


def cash_after(account: AccountSnapshot, plan) -> D:
    cash = account.cash + (0 if account.flow_in_cash else account.external_flow)
    for trade in plan.trades:
        cash += trade.estimated_amount if trade.side == "sell" else -trade.estimated_amount
    return cash - plan.estimated_cost


@PROPERTY
@given(accounts(constrained=False))
def test_weights_of_a_valued_account_sum_to_one_and_drift_sums_to_zero(account):
    report = calculate_drift(account)
    if report.total_value > 0:
        assert sum(r.actual_weight for r in report.rows) == 1
        assert abs(sum(r.drift for r in report.rows)) < D("1e-24")
    assert report.max_drift == max(abs(r.drift) for r in report.rows)
    assert report.breached == any(r.breached for r in report.rows)


@PROPERTY
@given(accounts())
def test_after_the_trades_every_weight_is_within_its_band_or_as_close_as_shares_allow(account):
    plan = generate_trades(account)
    after = plan.drift_after
    if not decide(account, plan.drift_before).rebalance:
        assert plan.trades == ()
        return
    unit = D(1).scaleb(-account.quantity_places) if account.fractional_shares else D(1)
    # Each trade stops within one quantity unit (and a cent) of its target; cash takes the remainders.
    slack = (len(account.holdings) + 1) * (max(h.price for h in account.holdings) * unit + CENT) / after.total_value
    for row in after.rows:
        assert abs(row.drift) <= row.band + slack, (row, slack)


# Found by this property (a run in CI's order): the breaching buy of F is first one share (to its
# target), which leaves cash above its band, so E (inside its band) is bought from it; the last pass
# then adds a second share of F, which ends cash inside its band. Cash "required" the buy of E
# before the last pass, which is what the check below measures.
_LAST_PASS_AFTER_AN_IN_BAND_BUY = AccountSnapshot(
    account_id=1,
    as_of=AS_OF,
    currency="USD",
    cash=D("0.55"),
    holdings=(
        Holding("A", D(57), D("1.06"), D("0.0001"), restricted=True),
        Holding("B", D(0), D(1), D(0), last_loss_sale_on=date(2025, 5, 26)),
        Holding("C", D(0), D(1), D(0), restricted=True, last_loss_sale_on=AS_OF),
        Holding("D", D(0), D(1), D("0.0161"), restricted=True, last_loss_sale_on=AS_OF),
        Holding("E", D(0), D(1), D("0.0322")),
        Holding("F", D(0), D("3.51"), D("0.1129")),
    ),
    cash_target=D("0.8387"),
    cash_reserve=D("0.2"),
    quantity_places=3,
    relative_band=D("0.5"),
)


@PROPERTY
@given(accounts(constrained=False))
@example(_LAST_PASS_AFTER_AN_IN_BAND_BUY)
def test_no_holding_inside_its_band_is_traded_unless_cash_requires_it(account):
    plan = generate_trades(account)
    before = {r.symbol: r for r in plan.drift_before.rows}
    total = plan.drift_before.total_value
    by_symbol = {h.symbol: h for h in account.holdings}
    unit = D(1).scaleb(-account.quantity_places) if account.fractional_shares else D(1)

    def before_the_last_pass(trade):
        """A breaching buy as the plan first sized it (up to its target); the last pass against cash
        drag may add units to it afterwards, from cash already left after the in-band buys."""
        h = by_symbol[trade.symbol]
        gap = before[trade.symbol].target_weight * total - h.quantity * h.price
        first = max(D(0), (gap / h.price).quantize(unit, rounding=ROUND_DOWN)) if h.price > 0 else trade.quantity
        return min(trade.quantity, first) * h.price

    breach_sales = sum(t.estimated_amount for t in plan.trades if t.side == "sell" and before[t.symbol].breached)
    breach_buys = sum(before_the_last_pass(t) for t in plan.trades if t.side == "buy" and before[t.symbol].breached)
    buyable = {
        h.symbol
        for h in account.holdings
        if not h.restricted and (h.last_loss_sale_on is None or (AS_OF - h.last_loss_sale_on).days > 30)
    }
    wanted = sum(
        r.target_weight * total
        - by_symbol[r.symbol].quantity * by_symbol[r.symbol].price
        + account.commission_per_trade
        for r in plan.drift_before.rows[:-1]
        if r.breached and r.drift < 0 and r.symbol in buyable
    )
    cash_row = plan.drift_before.rows[-1]
    spare_cash = account.cash - max(account.cash_reserve, account.cash_target) * total
    for trade in plan.trades:
        if before[trade.symbol].breached:
            continue
        if trade.side == "sell":
            # cash (above reserve and target) and the breaching sales did not cover the breaching buys
            assert wanted > spare_cash + breach_sales - account.commission_per_trade * len(plan.trades) - CENT, trade
            assert before[trade.symbol].drift > 0  # only overweight holdings are sold to raise cash
        else:
            # cash left after the breach trades (and the sales that raised cash for them, which
            # whole-share rounding may leave partly unspent) was above its band
            sales = sum(t.estimated_amount for t in plan.trades if t.side == "sell")
            assert account.cash + sales - breach_buys > (cash_row.target_weight + cash_row.band) * total, trade
            assert before[trade.symbol].drift < 0


@PROPERTY
@given(accounts(constrained=False, flows=True))
def test_cash_never_ends_negative_nor_below_the_reserve(account):
    plan = generate_trades(account)
    cash = cash_after(account, plan)
    start = account.cash + (0 if account.flow_in_cash else account.external_flow)
    reserve = account.cash_reserve * plan.drift_after.total_value
    if plan.trades and any(t.side == "buy" for t in plan.trades):
        # a buy never spends the reserve (nor cash that is not there)
        assert cash >= max(reserve, 0) - CENT, (cash, reserve)
    if account.external_flow < 0 and "larger than the account can raise" not in " ".join(plan.notes):
        assert cash >= reserve - CENT  # a withdrawal is raised in full, reserve kept
    assert cash >= min(start, max(reserve, 0)) - CENT  # never worse than where it started


@PROPERTY
@given(accounts(constrained=False, flows=True))
def test_no_trade_is_under_the_minimum_and_turnover_never_exceeds_a_full_rebalance(account):
    plan = generate_trades(account)
    assert all(t.estimated_amount >= account.min_trade_amount for t in plan.trades)
    assert all(t.quantity > 0 for t in plan.trades)
    sides = [t.side for t in plan.trades]
    assert sides == sorted(sides, key=lambda side: side != "sell")  # sells first
    if account.external_flow == 0:
        drift = plan.drift_before
        full = sum(abs(r.drift) * drift.total_value for r in drift.rows[:-1])
        assert sum(t.estimated_amount for t in plan.trades) <= full + CENT * len(plan.trades)
    elif account.external_flow > 0:
        assert "sell" not in sides  # a deposit only buys
    else:
        assert "buy" not in sides  # a withdrawal only sells


@PROPERTY
@given(accounts(constrained=False))
def test_nothing_restricted_or_recently_sold_at_a_loss_is_bought_and_lots_cover_sales(account):
    plan = generate_trades(account)
    by_symbol = {h.symbol: h for h in account.holdings}
    for trade in plan.trades:
        h = by_symbol[trade.symbol]
        if trade.side == "buy":
            assert not h.restricted
            assert h.last_loss_sale_on is None or (AS_OF - h.last_loss_sale_on).days > 30
        else:
            assert trade.quantity <= h.quantity
            if h.lots:
                costs = [next(lot.cost_per_share for lot in h.lots if lot.lot_id == s.lot_id) for s in trade.lot_sales]
                assert costs == sorted(costs, reverse=True)  # highest cost first
                assert sum(s.quantity for s in trade.lot_sales) == min(
                    trade.quantity, sum(lot.quantity for lot in h.lots)
                )
    assert plan.realised_gain == sum(t.realised_gain for t in plan.trades)
    whole = not account.fractional_shares
    assert all(t.quantity == t.quantity.to_integral_value() for t in plan.trades if whole and t.side == "buy")
