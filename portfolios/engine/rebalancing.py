"""The rebalancing engine: pure functions on dataclasses of Decimals, no ORM, no Django.

The four steps of the seed's workflow (see DESIGN.md):
1. fetch portfolio      -> an `AccountSnapshot` (built in bulk by `portfolios.selectors`)
2. calculate drift      -> `calculate_drift(snapshot) -> DriftReport`
3. decide               -> `decide(snapshot, drift) -> Decision`
4. generate trades      -> `generate_trades(snapshot, drift) -> TradePlan`

Weights, drift, thresholds and bands are fractions of 1 (Decimal("0.05") is 5 points).
Cash is the pseudo-symbol CASH in drift reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from operator import attrgetter
from typing import Any, NamedTuple

CASH = "CASH"
ZERO = Decimal(0)
ONE = Decimal(1)


class BandMode(StrEnum):
    ABSOLUTE = "absolute"  # band = threshold, in weight (0.05 = 5 points either side)
    RELATIVE = "relative"  # band = target weight x relative_band (0.25 = a quarter of the weight)


@dataclass(frozen=True, slots=True)
class Lot:
    """An open tax lot: `cost_per_share` in the account currency."""

    lot_id: int | str
    quantity: Decimal
    cost_per_share: Decimal
    acquired_on: date
    held_from: date | None = None  # the holding period's start when a wash sale moved it back
    purchase_id: int | str | None = None  # the purchase it came from (None: its own lot_id)


@dataclass(frozen=True, slots=True)
class Holding:
    """A security the account holds or its model targets (quantity 0 if only targeted)."""

    symbol: str
    quantity: Decimal
    price: Decimal
    target_weight: Decimal  # 0 when held but not in the model
    lots: tuple[Lot, ...] = ()
    restricted: bool = False  # never bought (firm restricted list, inactive security)
    last_loss_sale_on: date | None = None  # most recent sale at a loss in the household (wash-sale rule)
    # Purchases of the security in the household's accounts in the 30 days up to `as_of`, not
    # yet replacement shares (`wash_sales.Acquisition`s): a loss sale now would be a wash sale.
    recent_buys: tuple[Any, ...] = ()
    # Its fraction of its model sleeve when a harvest substitute shares the sleeve's target
    # (`substitutes.stand_in`): the absolute band is the threshold times this, so the pair
    # breaches together. 1 for a holding that is its sleeve alone.
    band_share: Decimal = ONE


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Everything the engine needs about one account, as of `as_of`."""

    account_id: int | str
    as_of: date
    currency: str
    cash: Decimal
    holdings: tuple[Holding, ...]
    cash_target: Decimal = ZERO  # the model's cash weight
    threshold: Decimal = Decimal("0.05")  # absolute band (fraction of 1)
    band_mode: BandMode = BandMode.ABSOLUTE
    relative_band: Decimal = Decimal("0.25")  # used when band_mode is RELATIVE
    cash_reserve: Decimal = ZERO  # fraction of the account's value kept in cash
    min_trade_amount: Decimal = ZERO
    fractional_shares: bool = False
    quantity_places: int = 9  # decimal places for fractional quantities
    external_flow: Decimal = ZERO  # a pending deposit (+) or withdrawal (-) to invest or raise
    # True when `cash` already includes `external_flow` (a credited deposit); False when the
    # flow is still pending, so the engine plans with cash + external_flow.
    flow_in_cash: bool = False
    commission_per_trade: Decimal = ZERO  # the cost model: a flat fee per trade, paid from cash
    money_places: int = 2  # decimal places of the account currency (amounts, realised gains)
    # Calendar rebalancing: "monthly" or "quarterly" brings the account to target on the first
    # business day (Monday to Friday) of each period whatever its drift; "threshold" never does.
    schedule: str = "threshold"
    lot_method: str = "hifo"  # the account's lot relief method (`portfolios.engine.lots.relief_order`)

    @property
    def invested_value(self) -> Decimal:
        return sum((h.quantity * h.price for h in self.holdings), ZERO)

    @property
    def total_value(self) -> Decimal:
        return self.invested_value + self.cash


class DriftRow(NamedTuple):
    """One row of a drift report (immutable). A named tuple rather than a dataclass: a report
    builds about twenty an account, twice a plan, and a tuple is built in one C call."""

    symbol: str
    target_weight: Decimal
    actual_weight: Decimal
    drift: Decimal  # actual - target
    band: Decimal  # allowed absolute drift for this row
    breached: bool


@dataclass(frozen=True, slots=True)
class DriftReport:
    account_id: int | str
    total_value: Decimal
    rows: tuple[DriftRow, ...]  # securities in symbol order, then CASH
    max_drift: Decimal  # the largest absolute drift
    breached: bool  # any row outside its band


@dataclass(frozen=True, slots=True)
class Decision:
    account_id: int | str
    rebalance: bool
    reason: str


@dataclass(frozen=True, slots=True)
class LotSale:
    lot_id: int | str
    quantity: Decimal
    realised_gain: Decimal
    wash_sale_disallowed: Decimal = ZERO  # the part of a loss the household's recent buys disallow


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    side: str  # "buy" | "sell"
    quantity: Decimal
    price: Decimal
    estimated_amount: Decimal  # quantity x price, rounded to cents
    lot_sales: tuple[LotSale, ...] = ()
    realised_gain: Decimal = ZERO
    wash_sale_disallowed: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class TradePlan:
    account_id: int | str
    needed: bool
    trades: tuple[Trade, ...]  # sells first, then buys
    drift_before: DriftReport
    drift_after: DriftReport | None
    estimated_cost: Decimal = ZERO
    realised_gain: Decimal = ZERO
    notes: tuple[str, ...] = field(default_factory=tuple)
    decision: Decision | None = None  # why the plan was (or was not) needed


# --- the engine --------------------------------------------------------------------------
#
# Rounding, at named places only:
# - weights and drift are exact quotients at the decimal context's precision (28 significant
#   digits) and are never quantized here; presentation rounds them. Cash takes the remainder
#   (1 - the securities' weights), so the weights of a valued account sum to exactly 1.
# - trade quantities: ROUND_DOWN to whole shares, or to `quantity_places` when the account
#   allows fractions; a sale that raises cash for a shortfall rounds UP (it must cover it),
#   but never past the holding's target weight.
# - money (estimated amounts, realised gains): `money_places`, ROUND_HALF_EVEN. Cash in a plan
#   moves by these rounded amounts, as it will in the ledger.
#
# Cost model: a flat `commission_per_trade` from the snapshot (default 0), paid from cash;
# `TradePlan.estimated_cost` is the sum over the plan's trades.

WASH_SALE_DAYS = 30
BUY = "buy"
SELL = "sell"
_UNITS = {places: ONE.scaleb(-places) for places in range(19)}
_by_symbol = attrgetter("symbol")


def _unit(snapshot: AccountSnapshot) -> Decimal:
    return _UNITS[snapshot.quantity_places] if snapshot.fractional_shares else ONE


def _sorted(snapshot: AccountSnapshot) -> tuple[list[Holding], list[Decimal]]:
    holdings = sorted(snapshot.holdings, key=_by_symbol)
    return holdings, [h.quantity * h.price for h in holdings]


_new_tuple = tuple.__new__


def _report(snapshot: AccountSnapshot, holdings: list[Holding], values: list[Decimal], cash: Decimal) -> DriftReport:
    """The drift of `holdings` (in symbol order) valued at `values`, with `cash`."""
    total = sum(values, cash)
    threshold = snapshot.threshold
    relative = snapshot.band_mode == BandMode.RELATIVE
    relative_band = snapshot.relative_band
    valued = total > ZERO
    new = _new_tuple
    row_type = DriftRow
    rows: list[DriftRow] = []
    append = rows.append
    weight_sum = ZERO
    max_drift = ZERO
    breached = False
    band = threshold
    for h, value in zip(holdings, values, strict=True):
        # this loop runs ~20 times an account, twice a plan
        target = h.target_weight
        actual = value / total if valued else ZERO
        weight_sum += actual
        drift = actual - target
        if relative:
            band = target * relative_band if target else threshold
        elif h.band_share != ONE:
            band = threshold * h.band_share
        else:
            band = threshold
        size = -drift if drift < ZERO else drift
        if size > max_drift:
            max_drift = size
        out = valued and size > band
        if out:
            breached = True
        append(new(row_type, (h.symbol, target, actual, drift, band, out)))
    target = snapshot.cash_target
    actual = ONE - weight_sum if valued else ZERO
    drift = actual - target
    band = target * relative_band if relative and target else threshold
    size = -drift if drift < ZERO else drift
    out = valued and size > band
    append(DriftRow(CASH, target, actual, drift, band, out))
    return DriftReport(snapshot.account_id, total, tuple(rows), max(max_drift, size), breached or out)


def calculate_drift(snapshot: AccountSnapshot) -> DriftReport:
    """Actual weight minus target weight for every security (symbol order) and CASH (last).

    A row breaches when |drift| > its band: `threshold` in absolute mode, target x
    `relative_band` in relative mode (the absolute threshold for a target of 0). An account
    worth nothing has all actual weights 0 and breaches nothing.
    """
    holdings, values = _sorted(snapshot)
    return _report(snapshot, holdings, values, snapshot.cash)


def drift_after_trades(snapshot: AccountSnapshot, trades: Iterable[tuple[str, str, Decimal, Decimal]]) -> DriftReport:
    """The drift once `trades` -- (symbol, side, quantity, amount in the account currency) -- are
    done at the snapshot's prices, each paying `commission_per_trade` from cash: a plan's
    `drift_after` (`generate_trades` computes it here), and so what a proposal that keeps only
    its inputs and trades derives again when it is read. Every symbol is one of the holdings."""
    holdings, values = _sorted(snapshot)
    return _after_trades(snapshot, holdings, values, trades)


def _after_trades(
    snapshot: AccountSnapshot,
    holdings: list[Holding],
    values: list[Decimal],
    trades: Iterable[tuple[str, str, Decimal, Decimal]],
    cash: Decimal | None = None,
) -> DriftReport:
    """`drift_after_trades` on the holdings already in symbol order with their values, from
    `cash` (the snapshot's by default; a cash flow's plan starts once the flow has landed)."""
    values = list(values)
    index = {h.symbol: i for i, h in enumerate(holdings)}
    moved: dict[int, Decimal] = {}
    cash = snapshot.cash if cash is None else cash
    fee = snapshot.commission_per_trade
    for symbol, side, quantity, amount in trades:
        i = index[symbol]
        if side == BUY:
            moved[i] = moved.get(i, ZERO) + quantity
            cash -= amount + fee
        else:
            moved[i] = moved.get(i, ZERO) - quantity
            cash += amount - fee
    for i, change in moved.items():
        values[i] = (holdings[i].quantity + change) * holdings[i].price
    return _report(snapshot, holdings, values, cash)


def _points(weight: Decimal) -> str:
    return f"{(weight * 100).quantize(Decimal('0.01'), ROUND_HALF_EVEN)}"


PERIOD_MONTHS = {"monthly": 1, "quarterly": 3}


def calendar_due(schedule: str, as_of: date) -> bool:
    """True on the first business day (Monday to Friday) of a month (`monthly`) or of January,
    April, July and October (`quarterly`); never for `threshold`."""
    months = PERIOD_MONTHS.get(str(schedule))
    if months is None or as_of.weekday() >= 5 or (as_of.month - 1) % months:
        return False
    # no business day before it in the same month
    return all(date(as_of.year, as_of.month, d).weekday() >= 5 for d in range(1, as_of.day))


def decide(snapshot: AccountSnapshot, drift: DriftReport) -> Decision:
    """Threshold strategy: rebalance when any row is outside its band (or cash is below the
    reserve, which the trades must restore); the reason names every breach. Calendar strategy
    beside it: on the first business day of the account's period (`calendar_due`) rebalance
    whatever the drift."""
    if drift.total_value <= ZERO:
        return Decision(snapshot.account_id, False, "The account has no value.")
    if calendar_due(snapshot.schedule, snapshot.as_of) and drift.max_drift > ZERO:
        return Decision(
            snapshot.account_id,
            True,
            f"Calendar rebalance ({snapshot.schedule}): the first business day of the period, "
            f"largest drift {_points(drift.max_drift)} points.",
        )
    reasons = []
    for row in sorted((r for r in drift.rows if r.breached), key=lambda r: (-abs(r.drift), r.symbol)):
        side = "over" if row.drift > ZERO else "under"
        reasons.append(f"{row.symbol} is {_points(abs(row.drift))} points {side} target (band {_points(row.band)})")
    reserve = snapshot.cash_reserve * drift.total_value
    if snapshot.cash < reserve:
        places = _UNITS[snapshot.money_places]
        reasons.append(f"cash {snapshot.cash.quantize(places)} is below the reserve of {reserve.quantize(places)}")
    if reasons:
        return Decision(snapshot.account_id, True, "; ".join(reasons) + ".")
    return Decision(
        snapshot.account_id,
        False,
        f"Every weight is inside its band (largest drift {_points(drift.max_drift)} points).",
    )
