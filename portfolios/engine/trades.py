"""Trade generation: the cheapest trades that bring an account back inside its bands, lots
chosen for tax, and the investment of a pending cash flow. Pure, like `rebalancing`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from itertools import repeat
from operator import attrgetter, mul

from portfolios.engine.lots import ReliefMethod, relief_order
from portfolios.engine.rebalancing import (
    _UNITS,
    BUY,
    ONE,
    SELL,
    WASH_SALE_DAYS,
    ZERO,
    AccountSnapshot,
    BandMode,
    Decision,
    DriftReport,
    DriftRow,
    Holding,
    Lot,
    LotSale,
    Trade,
    TradePlan,
    _after_trades,
    _Frame,
    _report,
    _unit,
    _Weights,
    calculate_drift,
    calendar_due,
    decide,
    new_lot_sale,
    new_trade,
    new_trade_plan,
)
from portfolios.engine.wash_sales import LossSale, wash_sale_matches

_target_weight = attrgetter("target_weight")
_ORDERED = (ReliefMethod.HIFO, ReliefMethod.TAX_OPTIMISED, ReliefMethod.FIFO)


def _buy_blocked(holding: Holding, as_of: date) -> str | None:
    if holding.restricted:
        return f"{holding.symbol} is restricted and is not bought."
    sold = holding.last_loss_sale_on
    if sold is not None and (as_of - sold).days <= WASH_SALE_DAYS:
        return f"{holding.symbol} was sold at a loss on {sold.isoformat()} and is not bought again within {WASH_SALE_DAYS} days (wash sale)."
    if holding.price <= ZERO:
        return f"{holding.symbol} has no price and is not traded."
    return None


def _buyable(holding: Holding, as_of: date) -> bool:
    """`_buy_blocked(holding, as_of) is None`, without writing the reason."""
    sold = holding.last_loss_sale_on
    return not holding.restricted and (sold is None or (as_of - sold).days > WASH_SALE_DAYS) and holding.price > ZERO


class _Planner:
    """Mutable working state of one plan: quantities to sell and buy, and the cash they move."""

    __slots__ = (
        "bought",
        "buys",
        "cash",
        "cents",
        "fee",
        "frame",
        "holdings",
        "minimum",
        "notes",
        "sells",
        "snapshot",
        "sold",
        "unit",
        "values",
    )

    def __init__(self, frame: _Frame, cash: Decimal):
        snapshot = self.snapshot = frame.snapshot
        self.frame = frame
        self.holdings = frame.holdings
        self.values = frame.values
        self.cash = cash
        self.unit = _unit(snapshot)
        self.cents = _UNITS[snapshot.money_places]
        self.fee = snapshot.commission_per_trade
        self.minimum = snapshot.min_trade_amount
        self.sells: dict[int, Decimal] = {}
        self.buys: dict[int, Decimal] = {}
        # each planned trade's estimated amount, money(quantity x price), kept as it is computed
        self.sold: dict[int, Decimal] = {}
        self.bought: dict[int, Decimal] = {}
        self.notes: list[str] = []

    def money(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.cents, ROUND_HALF_EVEN)

    def sell(self, i: int, quantity: Decimal) -> bool:
        """Sell `quantity` more of holding i unless it is nothing or under the minimum trade."""
        price = self.holdings[i].price
        amount = (quantity * price).quantize(self.cents, ROUND_HALF_EVEN)
        if quantity <= ZERO or amount <= ZERO or amount < self.minimum:
            return False
        previous = self.sells.get(i)
        if previous is None:
            if amount <= self.fee:  # a sale that does not even pay its commission raises nothing
                return False
            self.sells[i] = quantity
            self.sold[i] = amount
            self.cash += amount - self.fee
        else:  # one trade: cash moves by the rounded amount of the whole sale
            whole = self.sells[i] = previous + quantity
            amount = (whole * price).quantize(self.cents, ROUND_HALF_EVEN)
            self.cash += amount - self.sold[i]  # sold[i]: money(previous x price)
            self.sold[i] = amount
        return True

    def sell_to_target(self, i: int, target_value: Decimal, slack: Decimal | None = None) -> None:
        """Sell holding i down to `target_value` in whole units (ROUND_DOWN) -- one unit more when
        rounding down would leave it more than `slack` (its band, in value) above its target
        and the unit more leaves it inside the band below (`into_band`)."""
        h = self.holdings[i]
        if target_value <= ZERO:
            quantity = h.quantity  # not in the model: sold entirely
        else:
            excess = self.values[i] - target_value
            quantity = (excess / h.price).quantize(self.unit, ROUND_DOWN)
            if slack is not None and quantity < h.quantity:
                quantity = self.into_band(i, quantity, excess, slack)
        self.sell(i, quantity)

    def into_band(self, i: int, quantity: Decimal, gap: Decimal, slack: Decimal) -> Decimal:
        """`quantity` of holding i (rounded down from `gap`, the value to trade), or one unit more
        when `quantity` leaves more than `slack` of the gap undone -- the holding outside its band
        -- and the unit more overshoots by no more than `slack`: inside the band on the other side."""
        price = self.holdings[i].price
        if gap - quantity * price <= slack:
            return quantity
        more = quantity + self.unit
        return more if more * price - gap <= slack else quantity

    def raise_cash(self, need: Decimal, order: list[int], caps: Sequence[Decimal] | Mapping[int, Decimal]) -> Decimal:
        """Sell holdings in `order`, each at most `caps[i]` shares, until `need` is raised.
        Returns what is still missing (<= 0 when raised)."""
        unit = self.unit
        for i in order:
            if need <= ZERO:
                break
            price = self.holdings[i].price
            cap = caps[i] - self.sells.get(i, ZERO)
            if price <= ZERO or cap <= ZERO:
                continue
            fee = ZERO if i in self.sells else self.fee
            quantity = ((need + fee) / price).quantize(unit, ROUND_UP)
            if quantity * price < self.minimum:
                quantity = (self.minimum / price).quantize(unit, ROUND_UP)
            before = self.cash
            if self.sell(i, min(quantity, cap)):
                need -= self.cash - before
        return need

    def buy(self, i: int, want: Decimal, budget: Decimal, slack: Decimal | None = None) -> Decimal:
        """Buy up to `want` (never more than `budget`, fee included) of holding i, rounded down --
        for a holding outside its band (`slack`: the band, in value), one unit more when rounding
        down would leave it outside and the unit more fits the budget and the band (`into_band`);
        returns the budget left. The budget and the planner's cash are compared and subtracted,
        never output, so only their values count: with no commission its terms are left out."""
        fee = self.fee
        spend = min(want, budget - fee if fee else budget)
        minimum = self.minimum
        if spend <= ZERO or spend < minimum:
            return budget
        price = self.holdings[i].price
        quantity = (spend / price).quantize(self.unit, ROUND_DOWN)
        if slack is not None:
            more = self.into_band(i, quantity, want, slack)
            if more != quantity and (more * price).quantize(self.cents, ROUND_HALF_EVEN) + fee <= budget:
                quantity = more
        amount = (quantity * price).quantize(self.cents, ROUND_HALF_EVEN)
        if (amount + fee if fee else amount) > budget:  # rounding the amount up must not overdraw the budget
            quantity = ((budget - fee - self.cents / 2) / price).quantize(self.unit, ROUND_DOWN)
            amount = (quantity * price).quantize(self.cents, ROUND_HALF_EVEN)
        if quantity <= ZERO or amount < minimum or amount <= ZERO:
            return budget
        self.buys[i] = quantity
        self.bought[i] = amount
        if fee:
            self.cash -= amount + fee
            return budget - amount - fee
        self.cash -= amount
        return budget - amount

    def spend_remainder(
        self,
        rows: Sequence[DriftRow],
        targets: Sequence[Decimal],
        floor: Decimal,
        total: Decimal,
        cash_ceiling: Decimal,
    ) -> None:
        """The last pass against cash drag (whole-share accounts; with fractions the buys reach
        their targets already): while the cash above `floor` pays for one more share of a model
        holding still below its target, buy it for the holding furthest below (in value, after
        the plan's trades; ties by symbol) among those that stay inside their band with it — a holding the
        plan already buys, or any while cash is above its band (`cash_ceiling`): a holding
        inside its band is not traded when cash is inside its band too. Never a
        restricted or wash-sale security, nor one the plan sells; never a trade under the
        minimum (a share added to a planned buy counts with it); never cash below `floor`.
        Ends when no share fits: at most remainder / cheapest price steps."""
        s = self.snapshot
        if s.fractional_shares or total <= ZERO:
            return
        holdings = self.holdings
        buys = self.buys
        sells = self.sells
        as_of = s.as_of
        everyone = range(len(holdings))
        # What one more share of a holding costs and how far below its target it is depend only
        # on its planned quantity: computed when first needed and again once it changes (None:
        # not a candidate, or no share fits its band or the minimum). While cash is inside its
        # band only the holdings the plan buys are candidates, so only they are looked at.
        # With a commission >= 0 every share costs >= 0, so the budget never grows: an offer
        # dearer than the budget never fits and is dropped for good, before its band is
        # checked (`prune`).
        prune = self.fee >= ZERO
        offers: dict[int, tuple[tuple[Decimal, str], Decimal, Decimal] | None] = {}
        while True:
            budget = self.cash - floor
            best: tuple[tuple[Decimal, str], int, Decimal, Decimal] | None = None
            for i in everyone if self.cash > cash_ceiling else sorted(buys):
                if i in offers:
                    offer = offers[i]
                else:
                    h = holdings[i]
                    offer = offers[i] = (
                        self._one_more_share(i, rows[i].band, targets[i], total, budget if prune else None)
                        if h.target_weight > ZERO and i not in sells and _buyable(h, as_of)
                        else None
                    )
                if offer is None:
                    continue
                key, cost, amount = offer
                if cost > budget:
                    continue
                if best is None or key < best[0]:
                    best = (key, i, cost, amount)
            if best is None:
                return
            _, i, cost, amount = best
            buys[i] = buys.get(i, ZERO) + ONE
            self.bought[i] = amount
            self.cash -= cost
            del offers[i]

    def _one_more_share(
        self, i: int, band: Decimal, target: Decimal, total: Decimal, budget: Decimal | None = None
    ) -> tuple[tuple[Decimal, str], Decimal, Decimal] | None:
        """`spend_remainder`'s offer of holding i: (how far its value is from its target, its
        symbol), the cash one more share takes (its commission too when the plan did not
        buy it yet) and the buy's amount with it; None when that share would take it past its
        target or out of its band, or the buy would be under the minimum trade; None too when
        it costs more than `budget` (given only when the budget cannot grow)."""
        h = self.holdings[i]
        price = h.price
        planned = self.buys.get(i)
        if planned is None:  # the first share: money(1 x price), and the commission
            amount = (ONE * price).quantize(self.cents, ROUND_HALF_EVEN)  # rounded to the context first
            cost = amount + self.fee
            value = self.values[i]
        else:  # bought[i] is money(planned x price)
            amount = ((planned + ONE) * price).quantize(self.cents, ROUND_HALF_EVEN)
            cost = amount - self.bought[i]
            value = self.values[i] + planned * price
        if amount < self.minimum or (budget is not None and cost > budget):
            return None
        if value >= target or abs(value + price - target) > band * total:
            return None  # one more share would take it out of its band
        return (value - target, h.symbol), cost, amount  # most underweight first

    def plan(
        self,
        drift: DriftReport,
        decision: Decision | None,
        cash_after_flow: Decimal | None = None,
        prior: _Weights | None = None,
    ) -> TradePlan:
        s = self.snapshot
        holdings = self.holdings
        fee = self.fee
        trades: list[Trade] = []
        realised = ZERO
        # The drift after is the trades' own (`drift_after_trades`, as a proposal that keeps only
        # its inputs and trades derives it again when read); a cash flow's from the cash once it
        # landed. Its cash and quantities move here, trade by trade in the plan's order.
        cash = s.cash if cash_after_flow is None else cash_after_flow
        # amount +- a commission of exactly 0 (the default) is the amount to the digit (its
        # exponent, -money_places, is <= 0's): then cash moves by the amounts alone
        no_fee = fee is ZERO or str(fee) == "0"
        moved: dict[int, Decimal] = {}
        for i in sorted(self.sells):
            h = holdings[i]
            quantity = self.sells[i]
            lot_sales, gain, unmatched, washed = self._lot_sales(h, quantity)
            if unmatched > ZERO and h.lots:
                self.notes.append(f"{unmatched} {h.symbol} sold without a matching tax lot.")
            amount = self.sold[i]  # money(quantity x price)
            trades.append(new_trade(h.symbol, SELL, quantity, h.price, amount, lot_sales, gain, washed))
            realised += gain
            moved[i] = moved.get(i, ZERO) - quantity
            cash += amount if no_fee else amount - fee
        for i in sorted(self.buys):
            h = holdings[i]
            quantity = self.buys[i]
            amount = self.bought[i]  # money(quantity x price)
            trades.append(new_trade(h.symbol, BUY, quantity, h.price, amount, (), ZERO, ZERO))
            moved[i] = moved.get(i, ZERO) + quantity
            cash -= amount if no_fee else amount + fee
        frame = self.frame
        if not trades and cash_after_flow is None:
            after = drift
        elif len(set(frame.symbols)) < len(frame.symbols):  # a symbol twice: by symbol, as derived
            after = _after_trades(
                frame, [(t.symbol, t.side, t.quantity, t.estimated_amount) for t in trades], cash_after_flow, prior
            )
        else:
            values = frame.values.copy()
            for i, change in moved.items():
                values[i] = (holdings[i].quantity + change) * holdings[i].price
            after = _report(frame, values, cash, prior, moved)[0]
        return new_trade_plan(
            s.account_id,
            bool(trades),
            tuple(trades),
            drift,
            after,
            fee * len(trades),
            realised,
            tuple(self.notes),
            decision,
        )

    def _lot_sales(self, h: Holding, quantity: Decimal) -> tuple[tuple[LotSale, ...], Decimal, Decimal, Decimal]:
        """The lots in the account's relief order (`lots.relief_order`; highest cost first by
        default: the least gain realised). A lot sold at a loss while the household bought the
        security in the last 30 days is a wash sale: the disallowed loss is on its LotSale and
        in a note. Returns the sales, the gain, the quantity no lot covers and the loss disallowed."""
        s = self.snapshot
        remaining = quantity
        taken: list[tuple[Lot, Decimal, Decimal]] = []
        gain = ZERO
        method = s.lot_method if s.lot_method in _ORDERED else ReliefMethod.HIFO
        for lot in relief_order(h.lots, method=method, price=h.price, on=s.as_of):
            if remaining <= ZERO:
                break
            take = min(lot.quantity, remaining)
            if take <= ZERO:
                continue
            lot_gain = self.money((h.price - lot.cost_per_share) * take)
            taken.append((lot, take, lot_gain))
            gain += lot_gain
            remaining -= take
        disallowed: dict[int | str, Decimal] = {}
        if h.recent_buys and any(g < ZERO for _, _, g in taken):
            sales = [
                LossSale(
                    lot.lot_id,
                    lot.purchase_id if lot.purchase_id is not None else lot.lot_id,
                    s.account_id,
                    h.symbol,
                    s.as_of,
                    take,
                    lot.cost_per_share - h.price,
                )
                for lot, take, lot_gain in taken
                if lot_gain < ZERO
            ]
            # Shares this sale takes out of a recent lot are sold, not replacement shares.
            sold_now = {lot.lot_id: take for lot, take, _ in taken}
            buys = [
                replace(b, security_id=h.symbol, quantity=b.quantity - sold_now.get(b.lot_id, ZERO))
                for b in h.recent_buys
            ]
            for match in wash_sale_matches(sales, buys):
                disallowed[match.sale_id] = disallowed.get(match.sale_id, ZERO) + match.disallowed
            if disallowed:
                total = sum(disallowed.values(), ZERO)
                shares = sum((b.quantity for b in h.recent_buys), ZERO)
                self.notes.append(
                    f"{h.symbol} is sold at a loss within {WASH_SALE_DAYS} days of a purchase in the household "
                    f"({shares.normalize():f} shares): a wash sale, {total:,.2f} {s.currency} of the loss disallowed."
                )
        if not disallowed:
            return (
                tuple([new_lot_sale(lot.lot_id, take, lot_gain, ZERO) for lot, take, lot_gain in taken]),
                gain,
                remaining,
                ZERO,
            )
        sales_out = tuple(
            new_lot_sale(lot.lot_id, take, lot_gain, disallowed.get(lot.lot_id, ZERO)) for lot, take, lot_gain in taken
        )
        return sales_out, gain, remaining, sum((sale.wash_sale_disallowed for sale in sales_out), ZERO)


def generate_trades(
    snapshot: AccountSnapshot, drift: DriftReport | None = None, *, decision: Decision | None = None
) -> TradePlan:
    """The cheapest trades that bring every row outside its band back to target.

    With a pending cash flow (`external_flow` != 0) this is `invest_cash_flow`. Otherwise,
    when `decide` says so: breaching overweight holdings are sold back to target (entirely
    when the model does not hold them); breaching underweight holdings are bought back to
    target, most underweight first, paid from cash above max(reserve, cash target) and the
    sales (in whole units rounded down, or one unit more when rounding down would leave the
    holding outside its band and the unit more lands inside it: a share worth more than the gap
    does not leave a holding out of band -- the same for the sales); in-band overweight
    holdings are sold (most overweight first, never below target) only when that cash falls
    short; in-band underweight holdings are bought only when cash
    would otherwise stay above its band. Restricted securities and wash-sale repurchases are
    never bought, no trade is under `min_trade_amount`, and cash never ends below the
    reserve (nor below zero) through a buy. `drift` and `decision` are computed when not given.
    """
    frame = None
    weights = None  # the working lists of a report this call computed (reused after the trades)
    if drift is None:
        frame = _Frame(snapshot)
        drift, weights = _report(frame, frame.values, snapshot.cash)
    if snapshot.external_flow:
        return _invest_cash_flow(snapshot, drift, frame, weights)
    if decision is None:
        decision = decide(snapshot, drift)
    if not decision.rebalance:
        return new_trade_plan(snapshot.account_id, False, (), drift, drift, ZERO, ZERO, (), decision)
    if calendar_due(snapshot.schedule, snapshot.as_of):
        # To target whatever the threshold: every row off its target counts as breaching.
        drift = calculate_drift(replace(snapshot, threshold=ZERO, band_mode=BandMode.ABSOLUTE))

    if frame is None:
        frame = _Frame(snapshot)
    holdings, values = frame.holdings, frame.values
    planner = _Planner(frame, snapshot.cash)
    rows = drift.rows
    n = len(holdings)
    total = drift.total_value
    cash_row = rows[n]
    cash = snapshot.cash
    cash_target = cash_row.target_weight * total
    reserve = snapshot.cash_reserve * total
    # Cash above its target (and the reserve) pays for buys first; cash below its target but
    # inside its band is not spent further; cash outside its band goes back to its target.
    floor = max(reserve, cash_target if cash >= cash_target or cash_row.breached else cash, ZERO)
    targets = list(map(mul, map(_target_weight, rows[:n]), repeat(total, n)))  # target weight x total

    # 1. breaching overweight holdings back to target, and 2. what the breaching underweight
    # holdings need, most underweight first (one pass: a sale writes no note)
    wants: list[tuple[Decimal, str, int]] = []
    for i in [i for i, row in enumerate(rows[:n]) if row.breached]:
        drift_i = rows[i].drift
        if drift_i > ZERO:
            if holdings[i].price > ZERO:
                planner.sell_to_target(i, targets[i], rows[i].band * total)
        elif drift_i < ZERO:
            blocked = _buy_blocked(holdings[i], snapshot.as_of)
            if blocked:
                planner.notes.append(blocked)
            else:
                wants.append((drift_i, holdings[i].symbol, i))
    wants.sort()

    # 3. when cash above the floor does not cover them, sell in-band overweight holdings
    need = sum((targets[i] - values[i] + planner.fee for _, _, i in wants), ZERO) - (planner.cash - floor)
    if need > ZERO:
        order = sorted(
            (i for i in range(n) if i not in planner.sells and rows[i].drift > ZERO and not rows[i].breached),
            key=lambda i: (-rows[i].drift, holdings[i].symbol),
        )
        caps = dict.fromkeys(range(n), ZERO)
        for i in order:
            price = holdings[i].price
            if price > ZERO:
                caps[i] = ((values[i] - targets[i]) / price).quantize(planner.unit, ROUND_DOWN)
        planner.raise_cash(need, order, caps)

    # 4. the buys, from cash above the floor
    budget = planner.cash - floor
    for _, _, i in wants:
        budget = planner.buy(i, targets[i] - values[i], budget, rows[i].band * total)
    if budget < ZERO and planner.cash < reserve:
        planner.notes.append("Cash stays below the reserve: no overweight holding is left to sell.")

    # 5. cash still above its band goes to in-band underweight holdings, most underweight first
    cash_ceiling = (cash_row.target_weight + cash_row.band) * total
    if planner.cash > cash_ceiling:
        budget = planner.cash - max(floor, cash_target)
        # by (drift, symbol), ties in symbol order as the holdings are; not the breaching ones
        # (already tried)
        buys = planner.buys
        underweight = sorted(
            [
                (row.drift, holdings[i].symbol, i)
                for i, row in enumerate(rows[:n])
                if not row.breached and i not in buys and row.drift < ZERO
            ]
        )
        # `buy` spends at most budget - fee and never under the minimum: below that it buys nothing
        short = budget - planner.fee < planner.minimum
        for _, _, i in underweight:
            if budget <= ZERO:
                break
            blocked = _buy_blocked(holdings[i], snapshot.as_of)
            if blocked:  # not bought: the cash it would have taken stays, and the plan says why
                if blocked not in planner.notes:
                    planner.notes.append(blocked)
                continue
            if not short:
                budget = planner.buy(i, targets[i] - values[i], budget)
                if i in planner.buys:  # bought: the budget moved
                    short = budget - planner.fee < planner.minimum

    # 6. the whole-share remainder: what is left above max(floor, cash target) buys more units
    planner.spend_remainder(rows[:n], targets, max(floor, cash_target), total, cash_ceiling)
    return planner.plan(drift, decision, prior=weights)


def invest_cash_flow(snapshot: AccountSnapshot, drift: DriftReport | None = None) -> TradePlan:
    """Invest a deposit or raise a withdrawal (`external_flow`) with the fewest trades.

    A deposit buys the most underweight holdings first, each up to its target, from cash above
    max(reserve, cash target) once the deposit is in; nothing is sold. A withdrawal sells the
    most overweight holdings first, each down to its target, until cash covers the withdrawal
    and the reserve; only if that is not enough are other holdings sold (most overweight first).
    Weights are measured after the flow lands. `drift_after` is after the flow and the trades.
    """
    return _invest_cash_flow(snapshot, drift)


def _invest_cash_flow(
    snapshot: AccountSnapshot,
    drift: DriftReport | None,
    frame: _Frame | None = None,
    weights: _Weights | None = None,
) -> TradePlan:
    """`invest_cash_flow`, with the frame and the working lists of `drift` when the caller
    computed them from the snapshot (`generate_trades`)."""
    if frame is None:
        frame = _Frame(snapshot)
    if drift is None:
        drift, weights = _report(frame, frame.values, snapshot.cash)
    flow = snapshot.external_flow
    cash = snapshot.cash if snapshot.flow_in_cash else snapshot.cash + flow
    landed: DriftReport
    landed_weights: _Weights | None
    if snapshot.flow_in_cash and weights is not None:
        landed, landed_weights = drift, weights  # the flow is in the cash the drift was measured with
    else:
        landed, landed_weights = _report(frame, frame.values, cash)
    holdings, values = frame.holdings, frame.values
    total = landed.total_value
    rows = landed.rows
    n = len(holdings)
    planner = _Planner(frame, cash)
    targets = [row.target_weight * total for row in rows[:n]]
    reserve = max(snapshot.cash_reserve * total, ZERO)
    if flow > ZERO:
        kind = "deposit"
        budget = cash - max(reserve, snapshot.cash_target * total)
        for i in sorted(
            (i for i in range(n) if rows[i].drift < ZERO), key=lambda i: (rows[i].drift, holdings[i].symbol)
        ):
            if budget <= ZERO:
                break
            blocked = _buy_blocked(holdings[i], snapshot.as_of)
            if blocked:
                planner.notes.append(blocked)
                continue
            budget = planner.buy(i, targets[i] - values[i], budget)
    elif flow < ZERO:
        kind = "withdrawal"
        need = reserve - cash
        if need > ZERO:
            by_overweight = sorted(range(n), key=lambda i: (-rows[i].drift, holdings[i].symbol))
            caps = [
                ((values[i] - targets[i]) / h.price).quantize(planner.unit, ROUND_DOWN)
                if h.price > ZERO and rows[i].drift > ZERO
                else ZERO
                for i, h in enumerate(holdings)
            ]
            need = planner.raise_cash(need, by_overweight, caps)
            if need > ZERO:
                need = planner.raise_cash(need, by_overweight, [h.quantity for h in holdings])
            if need > ZERO:
                planner.notes.append("The withdrawal is larger than the account can raise.")
    else:
        return generate_trades(snapshot, drift)
    decision = Decision(snapshot.account_id, True, f"Cash flow: a {kind} of {abs(flow)}.")
    plan = planner.plan(drift, decision, cash_after_flow=cash, prior=landed_weights)
    outside = [row.symbol for row in (plan.drift_after.rows if plan.drift_after else ()) if row.breached]
    if plan.needed and outside:
        # The plan says why it leaves the account out of band (the drift scan is what rebalances).
        note = f"Outside the band after the {kind}: {', '.join(outside)} (a cash flow is invested or raised, not rebalanced)."
        plan = replace(plan, notes=(*plan.notes, note))
    return plan
