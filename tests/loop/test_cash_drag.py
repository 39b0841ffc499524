"""Cash drag (issue 13): the whole-share remainder of a rebalance is spent on the most
underweight holdings that whole shares allow (the engine's last pass)."""

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from hypothesis import given

from portfolios.engine import AccountSnapshot, Holding, decide, generate_trades
from tests.portfolios.test_rebalancing_properties import AS_OF, PROPERTY, accounts, cash_after

THIRDS = (("AAA", "0.3333"), ("BBB", "0.3333"), ("CCC", "0.3334"))


def _thirds(cash: str, held: int = 0) -> AccountSnapshot:
    return AccountSnapshot(
        account_id=1,
        as_of=date(2026, 12, 1),
        currency="USD",
        cash=D(cash),
        holdings=tuple(Holding(s, D(held), D(450), D(w)) for s, w in THIRDS),
    )


def test_ten_thousand_in_a_third_each_at_450_buys_7_7_8_and_leaves_100():
    plan = generate_trades(_thirds("10000"))
    # Targets $3,333 / $3,333 / $3,334: 7 shares ($3,150) each leave $550; CCC is furthest
    # below its target ($184 against $183), so the $550 buys one more CCC; $100 (1%) is left,
    # less than a share.
    assert [(t.symbol, t.quantity) for t in plan.trades] == [("AAA", D(7)), ("BBB", D(7)), ("CCC", D(8))]
    cash = plan.drift_after.rows[-1]
    assert cash.actual_weight == D("0.01")
    assert not plan.drift_after.breached


def test_the_nightly_run_at_7_7_7_with_550_cash_buys_the_share_it_never_bought():
    account = _thirds("550", held=7)
    drift = generate_trades(account).drift_before
    assert [r.symbol for r in drift.rows if r.breached] == ["CASH"]  # 5.50 points over target
    plan = generate_trades(account)
    assert [(t.side, t.symbol, t.quantity) for t in plan.trades] == [("buy", "CCC", D(1))]
    assert not plan.drift_after.breached


def _eligible_share_prices(account: AccountSnapshot, plan, total: D) -> dict[str, D]:
    """Prices of one more share of each model holding still below its target that the pass
    could buy: not restricted, no loss sale in 30 days, not sold by the plan, inside its band
    with the share, the trade at least the minimum."""
    bought = {t.symbol: t.quantity for t in plan.trades if t.side == "buy"}
    sold = {t.symbol for t in plan.trades if t.side == "sell"}
    bands = {r.symbol: r.band for r in plan.drift_before.rows}
    prices = {}
    for h in account.holdings:
        if h.target_weight <= 0 or h.restricted or h.symbol in sold or h.price <= 0:
            continue
        if h.last_loss_sale_on is not None and (AS_OF - h.last_loss_sale_on).days <= 30:
            continue
        value = (h.quantity + bought.get(h.symbol, D(0))) * h.price
        target = h.target_weight * total
        if value >= target or abs(value + h.price - target) > bands[h.symbol] * total:
            continue
        if (bought.get(h.symbol, D(0)) + 1) * h.price < account.min_trade_amount:
            continue
        prices[h.symbol] = h.price + (0 if h.symbol in bought else account.commission_per_trade)
    return prices


@PROPERTY
@given(accounts(constrained=False))
def test_after_the_last_pass_the_cash_left_buys_no_eligible_share_or_the_account_is_in_its_bands(account):
    account = replace(account, fractional_shares=False)
    plan = generate_trades(account)
    if not decide(account, plan.drift_before).rebalance or not plan.drift_after.breached:
        return
    total = plan.drift_before.total_value
    cash_row = plan.drift_before.rows[-1]
    floor = max(account.cash_reserve * total, account.cash_target * total, D(0))
    cash = cash_after(account, plan)
    eligible = _eligible_share_prices(account, plan, total)
    if cash <= (cash_row.target_weight + cash_row.band) * total:
        # cash inside its band: only a holding the plan buys anyway takes one more share
        bought = {t.symbol for t in plan.trades if t.side == "buy"}
        eligible = {s: p for s, p in eligible.items() if s in bought}
    assert not eligible or cash - floor < min(eligible.values()), (cash - floor, eligible, plan.trades)
