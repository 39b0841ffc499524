"""The household rebalancing engine (pure): group drift, least-tax sells, asset location."""

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolios.engine import Lot
from portfolios.engine.household import GroupAccount, GroupHolding, GroupSecurity, GroupSnapshot, plan_household

D = Decimal
TODAY = date(2026, 12, 1)
OLD = date(2020, 1, 2)


def _snapshot(accounts, *, vti="200", bnd="70", threshold="0.05"):
    return GroupSnapshot(
        group_id=1,
        as_of=TODAY,
        accounts=tuple(accounts),
        securities=(
            GroupSecurity("BND", D(bnd), D("0.4"), asset_class="bonds"),
            GroupSecurity("VTI", D(vti), D("0.6"), asset_class="us_equity"),
        ),
        threshold=D(threshold),
    )


def _taxable(account_id, vti_qty, cost="100", cash="0"):
    return GroupAccount(
        account_id,
        tax_deferred=False,
        cash=D(cash),
        holdings=(GroupHolding("VTI", D(vti_qty), (Lot(f"t{account_id}", D(vti_qty), D(cost), OLD),)),),
    )


def _ira(account_id, vti_qty, bnd_qty, cash="0"):
    holdings = []
    if vti_qty:
        holdings.append(GroupHolding("VTI", D(vti_qty), (Lot(f"i{account_id}v", D(vti_qty), D("150"), OLD),)))
    if bnd_qty:
        holdings.append(GroupHolding("BND", D(bnd_qty), (Lot(f"i{account_id}b", D(bnd_qty), D("75"), OLD),)))
    return GroupAccount(account_id, tax_deferred=True, cash=D(cash), holdings=tuple(holdings))


def test_household_rebalancing_trades_only_in_the_ira_when_that_suffices():
    """Taxable: 250 VTI (50,000, bought at 100). IRA: 200 VTI (40,000) and 100 BND (7,000). Model 60/40.

    By hand: the household is worth 97,000; VTI 90,000 = 92.78% against 60%. VTI's target is
    58,200: sell 31,800 = 159 shares, all in the IRA (it holds 200, and a sale there is not
    taxed). BND's target is 38,800, held 7,000: buy 31,800 / 70 = 454.28 -> 454 shares (31,780)
    with the IRA's cash (bonds belong in the IRA anyway). The taxable account does not trade,
    so no gain is realised; after: VTI 58,200 (60.00%), BND 38,780 (39.98%), cash 20."""
    plan = plan_household(_snapshot([_taxable(1, "250"), _ira(2, "200", "100")]))
    assert plan.needed
    assert list(plan.trades) == [2]
    assert [(t.symbol, t.side, t.quantity, t.estimated_amount) for t in plan.trades[2]] == [
        ("VTI", "sell", D("159"), D("31800.00")),
        ("BND", "buy", D("454"), D("31780.00")),
    ]
    assert plan.realised_gain_taxable == D("0")
    after = {r.symbol: r for r in plan.drift_after}
    assert after["VTI"].actual_weight == D("58200") / D("97000")
    assert after["BND"].actual_weight == D("38780") / D("97000")
    assert not any(r.breached for r in plan.drift_after)


def test_the_taxable_account_sells_only_what_the_ira_cannot():
    """IRA holds only 50 VTI (10,000): the rest of the 159-share sale comes from the taxable account."""
    plan = plan_household(_snapshot([_taxable(1, "400"), _ira(2, "50", "100")]))
    # Household: 80,000 + 10,000 + 7,000 = 97,000 again -> sell 159 VTI: 50 in the IRA, 109 taxable.
    sells = {a: [(t.symbol, t.quantity) for t in trades if t.side == "sell"] for a, trades in plan.trades.items()}
    assert sells == {1: [("VTI", D("109"))], 2: [("VTI", D("50"))]}
    assert plan.realised_gain_taxable == D("109") * D("100")  # (200 - 100) a share
    # The IRA's 10,000 buys bonds there (asset location); the taxable account's 21,800 buys the rest there.
    buys = {a: [(t.symbol, t.quantity) for t in trades if t.side == "buy"] for a, trades in plan.trades.items()}
    assert buys == {1: [("BND", D("311"))], 2: [("BND", D("142"))]}


def test_inside_the_bands_nothing_trades_and_one_point_outside_it_does():
    # VTI 150 x 200 + 30 x 200 = 36,000, BND 300 x 70 = 21,000: 63.16% / 36.84%, inside 5 points.
    inside = plan_household(_snapshot([_taxable(1, "150"), _ira(2, "30", "300")]))
    assert not inside.needed and inside.trades == {}
    # VTI 36,000, BND 250 x 70 = 17,500: 67.29%, outside.
    assert plan_household(_snapshot([_taxable(1, "150"), _ira(2, "30", "250")])).needed


def test_a_deposit_is_invested_in_its_own_account():
    deposit = GroupAccount(3, tax_deferred=False, cash=D("0"), external_flow=D("10000"))
    plan = plan_household(_snapshot([_taxable(1, "150"), _ira(2, "30", "300"), deposit]))
    buys = [(t.symbol, t.side) for t in plan.trades.get(3, ())]
    assert buys and all(side == "buy" for _, side in buys)
    assert set(plan.trades) == {3}  # nobody else needed to trade


@given(
    taxable=st.integers(min_value=0, max_value=2000),
    ira_vti=st.integers(min_value=0, max_value=2000),
    ira_bnd=st.integers(min_value=0, max_value=3000),
    ira_cash=st.integers(min_value=0, max_value=50000),
    taxable_cash=st.integers(min_value=0, max_value=50000),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_account_spends_cash_it_does_not_have_and_a_feasible_group_ends_inside_its_bands(
    taxable, ira_vti, ira_bnd, ira_cash, taxable_cash
):
    accounts = [_taxable(1, str(taxable), cash=str(taxable_cash)), _ira(2, ira_vti, ira_bnd, cash=str(ira_cash))]
    snapshot = _snapshot(accounts)
    plan = plan_household(snapshot)
    for account in accounts:
        cash = account.cash
        held = {h.symbol: h.quantity for h in account.holdings}
        for trade in plan.trades.get(account.account_id, ()):
            sign = 1 if trade.side == "sell" else -1
            cash += sign * trade.estimated_amount
            held[trade.symbol] = held.get(trade.symbol, D(0)) - sign * trade.quantity
        assert cash >= 0
        assert all(q >= 0 for q in held.values())
    total = sum((a.cash for a in accounts), D(0)) + D(200) * (taxable + ira_vti) + D(70) * ira_bnd
    # Feasible: worth enough that one share of either is well inside a band.
    if total >= 20000:
        assert not any(r.breached for r in plan.drift_after), plan.drift_after


def test_a_security_sold_at_a_loss_is_not_bought_back_through_day_30_and_is_on_day_31():
    """The group is short of BND (the IRA's VTI sale leaves cash for it), but BND was sold at a
    loss in the household: bought back within 30 days that sale is a wash sale. Day 30 (the
    window's last day) keeps the cash and names the reason; day 31 buys the 454 shares."""
    from datetime import timedelta

    def snapshot(days_since_sale):
        base = _snapshot([_taxable(1, "250"), _ira(2, "200", "100")])
        sold_on = TODAY - timedelta(days=days_since_sale)
        securities = tuple(
            GroupSecurity(s.symbol, s.price, s.target_weight, s.asset_class, last_loss_sale_on=sold_on)
            if s.symbol == "BND"
            else s
            for s in base.securities
        )
        return GroupSnapshot(base.group_id, base.as_of, base.accounts, securities, threshold=base.threshold)

    blocked = plan_household(snapshot(30))
    assert [(t.symbol, t.side) for t in blocked.trades[2]] == [("VTI", "sell")]
    assert any("BND was sold at a loss on 2026-11-01" in n and "wash sale" in n for n in blocked.notes)
    allowed = plan_household(snapshot(31))
    assert [(t.symbol, t.side, t.quantity) for t in allowed.trades[2]] == [
        ("VTI", "sell", D("159")),
        ("BND", "buy", D("454")),
    ]
    assert not any("wash sale" in n for n in allowed.notes)


def _waiting_group(*, cash, aaa, bbb, days_since_sale=10):
    """CCC (30% of the model) was sold at a loss `days_since_sale` days ago and is held nowhere;
    the cash it would take sits in account 1, with BBB; account 2 holds AAA. Prices $100."""
    from datetime import timedelta

    sold_on = TODAY - timedelta(days=days_since_sale)
    return GroupSnapshot(
        group_id=1,
        as_of=TODAY,
        accounts=(
            GroupAccount(
                1,
                tax_deferred=True,
                cash=D(cash),
                holdings=(GroupHolding("BBB", D(bbb), (Lot("b", D(bbb), D(90), OLD),)),),
            ),
            GroupAccount(
                2,
                tax_deferred=False,
                cash=D(0),
                holdings=(GroupHolding("AAA", D(aaa), (Lot("a", D(aaa), D(90), OLD),)),),
            ),
        ),
        securities=(
            GroupSecurity("AAA", D(100), D("0.35")),
            GroupSecurity("BBB", D(100), D("0.35")),
            GroupSecurity("CCC", D(100), D("0.30"), last_loss_sale_on=sold_on),
        ),
        threshold=D("0.05"),
    )


def test_a_group_short_only_of_what_it_may_not_buy_yet_is_not_traded_against_itself():
    """CCC is 30 points under its target and inside its wash-sale window; its 30,000 waits in
    account 1's cash (cash 30 points over its target). AAA is half a point over, BBB half a point
    under: inside their bands. Rebalancing them to the penny would sell AAA in account 2 and buy
    BBB with account 1's cash every night, the household no nearer its model (the simulated year
    did so for weeks). No trade; the notes say what waits and why."""
    plan = plan_household(_waiting_group(cash="30000", aaa="355", bbb="345"))
    assert not plan.needed and plan.trades == {}
    assert [r.symbol for r in plan.drift_before if r.breached] == ["CCC", "CASH"]
    assert plan.notes[0] == (
        "CCC is 30.00 points under its target: it was sold at a loss on 2026-11-21 and is not bought "
        "again within 30 days (wash sale)."
    )
    assert "No trade" in plan.notes[-1]
    # Day 31: CCC may be bought, and the group is rebalanced with the cash that waited for it.
    allowed = plan_household(_waiting_group(cash="30000", aaa="355", bbb="345", days_since_sale=31))
    assert allowed.needed
    assert [(t.symbol, t.side, t.quantity) for t in allowed.trades[1]] == [("BBB", "buy", D(5)), ("CCC", "buy", D(295))]
    assert not any(r.breached for r in allowed.drift_after)


def test_cash_beyond_what_waits_by_more_than_the_band_is_invested():
    """Cash 35 points over its target with 30 waiting for CCC: 5 points spare, the band's edge, is
    not a breach the plan acts on; $100 more cash (5.06 points spare) is, and buys AAA and BBB."""
    edge = plan_household(_waiting_group(cash="35000", aaa="325", bbb="325"))
    assert not edge.needed and edge.trades == {}
    over = plan_household(_waiting_group(cash="35100", aaa="325", bbb="325"))
    assert over.needed
    assert {(t.symbol, t.side) for t in over.trades[1]} == {("AAA", "buy"), ("BBB", "buy")}
    after = {r.symbol: r for r in over.drift_after}
    assert not after["AAA"].breached and not after["BBB"].breached
    assert after["CASH"].drift - D("0.30") <= D("0.05")  # what waits for CCC, and no more than the band
