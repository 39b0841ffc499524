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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from itertools import repeat
from operator import attrgetter, gt, sub, truediv
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


# --- building the frozen results --------------------------------------------------------
#
# A frozen dataclass's `__init__` sets every field through `object.__setattr__` (a type lookup
# and a wrapped call a field): a `Trade` costs about three times what a plain object of the same
# slots does, and a plan builds several. The hot paths build them through these classes
# instead: each has exactly the slots of its public class, takes every field positionally,
# stores them as plain attributes and then becomes an instance of the public class
# (`__class__` assignment, which Python allows between classes of one layout). What comes out
# is an ordinary `Trade` (`DriftReport`, ...), equal to and indistinguishable from one built by
# its `__init__`; tests/portfolios/test_engine_builders.py holds the two in step.


class _BuildDecision:
    __slots__ = Decision.__slots__

    def __init__(self, account_id: int | str, rebalance: bool, reason: str):
        self.account_id = account_id
        self.rebalance = rebalance
        self.reason = reason
        self.__class__ = Decision  # type: ignore[assignment]


class _BuildDriftReport:
    __slots__ = DriftReport.__slots__

    def __init__(
        self,
        account_id: int | str,
        total_value: Decimal,
        rows: tuple[DriftRow, ...],
        max_drift: Decimal,
        breached: bool,
    ):
        self.account_id = account_id
        self.total_value = total_value
        self.rows = rows
        self.max_drift = max_drift
        self.breached = breached
        self.__class__ = DriftReport  # type: ignore[assignment]


class _BuildLotSale:
    __slots__ = LotSale.__slots__

    def __init__(self, lot_id: int | str, quantity: Decimal, realised_gain: Decimal, wash_sale_disallowed: Decimal):
        self.lot_id = lot_id
        self.quantity = quantity
        self.realised_gain = realised_gain
        self.wash_sale_disallowed = wash_sale_disallowed
        self.__class__ = LotSale  # type: ignore[assignment]


class _BuildTrade:
    __slots__ = Trade.__slots__

    def __init__(
        self,
        symbol: str,
        side: str,
        quantity: Decimal,
        price: Decimal,
        estimated_amount: Decimal,
        lot_sales: tuple[LotSale, ...],
        realised_gain: Decimal,
        wash_sale_disallowed: Decimal,
    ):
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.estimated_amount = estimated_amount
        self.lot_sales = lot_sales
        self.realised_gain = realised_gain
        self.wash_sale_disallowed = wash_sale_disallowed
        self.__class__ = Trade  # type: ignore[assignment]


class _BuildTradePlan:
    __slots__ = TradePlan.__slots__

    def __init__(
        self,
        account_id: int | str,
        needed: bool,
        trades: tuple[Trade, ...],
        drift_before: DriftReport,
        drift_after: DriftReport | None,
        estimated_cost: Decimal,
        realised_gain: Decimal,
        notes: tuple[str, ...],
        decision: Decision | None,
    ):
        self.account_id = account_id
        self.needed = needed
        self.trades = trades
        self.drift_before = drift_before
        self.drift_after = drift_after
        self.estimated_cost = estimated_cost
        self.realised_gain = realised_gain
        self.notes = notes
        self.decision = decision
        self.__class__ = TradePlan  # type: ignore[assignment]


# Typed as what they return: every field, positionally, in the dataclass's order.
new_decision: Callable[[int | str, bool, str], Decision] = _BuildDecision  # type: ignore[assignment]
new_drift_report: Callable[[int | str, Decimal, tuple[DriftRow, ...], Decimal, bool], DriftReport] = _BuildDriftReport  # type: ignore[assignment]
new_lot_sale: Callable[[int | str, Decimal, Decimal, Decimal], LotSale] = _BuildLotSale  # type: ignore[assignment]
new_trade: Callable[[str, str, Decimal, Decimal, Decimal, tuple[LotSale, ...], Decimal, Decimal], Trade] = _BuildTrade  # type: ignore[assignment]
new_trade_plan: Callable[
    [
        int | str,
        bool,
        tuple[Trade, ...],
        DriftReport,
        DriftReport | None,
        Decimal,
        Decimal,
        tuple[str, ...],
        Decision | None,
    ],
    TradePlan,
] = _BuildTradePlan  # type: ignore[assignment]


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


class _Frame:
    """What every report of one snapshot shares, in symbol order: the holdings, their values at
    the snapshot's quantities, and each row's target and band (they depend on the settings
    alone). Built once a plan and used by the report before the trades and the one after."""

    __slots__ = ("bands", "cash_band", "holdings", "index", "snapshot", "symbols", "targets", "values")

    def __init__(self, snapshot: AccountSnapshot):
        self.snapshot = snapshot
        holdings = self.holdings = sorted(snapshot.holdings, key=_by_symbol)
        self.values: list[Decimal] = [h.quantity * h.price for h in holdings]
        self.symbols: list[str] = [h.symbol for h in holdings]
        targets = self.targets = [h.target_weight for h in holdings]
        threshold = snapshot.threshold
        cash_target = snapshot.cash_target
        if snapshot.band_mode == BandMode.RELATIVE:
            relative_band = snapshot.relative_band
            self.bands = [target * relative_band if target else threshold for target in targets]
            self.cash_band = cash_target * relative_band if cash_target else threshold
        else:
            shares = [h.band_share for h in holdings]
            if shares.count(ONE) == len(shares):  # no shared sleeve (list.count: identity first)
                self.bands = [threshold] * len(shares)
            else:
                self.bands = [threshold if share == ONE else threshold * share for share in shares]
            self.cash_band = threshold
        self.index: dict[str, int] | None = None

    def position(self, symbol: str) -> int:
        if self.index is None:
            self.index = {symbol: i for i, symbol in enumerate(self.symbols)}
        return self.index[symbol]


class _Weights(NamedTuple):
    """The working lists of a report of a valued account, kept so that the report after the
    trades recomputes only the rows the trades moved (`_report`'s `prior`)."""

    total: Decimal
    actuals: list[Decimal]
    sizes: list[Decimal]  # |drift|
    outs: list[bool]
    rows: list[DriftRow]


# A row is tuple.__new__(DriftRow, fields): one C call (the named tuple's __new__ is Python);
# map(_new_tuple, _DRIFT_ROW, zip(...)) builds a report's rows so (the repeat is endless).
_new_tuple = tuple.__new__
_DRIFT_ROW = repeat(DriftRow)


def _report(
    frame: _Frame,
    values: list[Decimal],
    cash: Decimal,
    prior: _Weights | None = None,
    moved: Iterable[int] = (),
) -> tuple[DriftReport, _Weights | None]:
    """The drift of the frame's holdings valued at `values`, with `cash`, and its working lists
    (None for an account worth nothing).

    Every number is the one the row-by-row definition gives (`calculate_drift`'s docstring):
    actual = value / total and drift = actual - target at the context's precision, cash's
    actual 1 - the running sum of the securities' actuals in symbol order. `prior` is an
    earlier report of the same frame whose values differ only at the indices `moved`: when
    its total is the same number to the digit (`compare_total`: the same coefficient and
    exponent, so every quotient is too), the other rows are the same rows and are reused.
    """
    snapshot = frame.snapshot
    total = sum(values, cash)
    targets = frame.targets
    bands = frame.bands
    n = len(values)
    weights: _Weights | None = None
    if total > ZERO:
        if prior is not None and not total.compare_total(prior.total):
            actuals = prior.actuals.copy()
            sizes = prior.sizes.copy()
            outs = prior.outs.copy()
            rows = prior.rows.copy()
            for i in moved:
                actual = values[i] / total
                drift = actual - targets[i]
                size = abs(drift)
                out = size > bands[i]
                actuals[i] = actual
                sizes[i] = size
                outs[i] = out
                rows[i] = _new_tuple(DriftRow, (frame.symbols[i], targets[i], actual, drift, bands[i], out))
        else:
            actuals = list(map(truediv, values, repeat(total, n)))
            drifts = list(map(sub, actuals, targets))
            sizes = list(map(abs, drifts))
            outs = list(map(gt, sizes, bands))
            rows = list(
                map(_new_tuple, _DRIFT_ROW, zip(frame.symbols, targets, actuals, drifts, bands, outs, strict=True))
            )
        cash_actual = ONE - sum(actuals, ZERO)
        weights = _Weights(total, actuals, sizes, outs, rows)
    else:  # worth nothing: every actual weight 0, nothing breached
        actuals = [ZERO] * n
        drifts = list(map(sub, actuals, targets))
        sizes = list(map(abs, drifts))
        outs = [False] * n
        rows = list(map(_new_tuple, _DRIFT_ROW, zip(frame.symbols, targets, actuals, drifts, bands, outs, strict=True)))
        cash_actual = ZERO
    cash_target = snapshot.cash_target
    cash_drift = cash_actual - cash_target
    cash_size = abs(cash_drift)
    cash_out = weights is not None and cash_size > frame.cash_band
    # the largest |drift|: the first row strictly above every earlier one, from 0
    max_drift = max(sizes, default=ZERO)
    if not max_drift > ZERO:
        max_drift = ZERO
    if cash_size > max_drift:
        max_drift = cash_size
    report = new_drift_report(
        snapshot.account_id,
        total,
        (*rows, _new_tuple(DriftRow, (CASH, cash_target, cash_actual, cash_drift, frame.cash_band, cash_out))),
        max_drift,
        cash_out or True in outs,
    )
    return report, weights


def calculate_drift(snapshot: AccountSnapshot) -> DriftReport:
    """Actual weight minus target weight for every security (symbol order) and CASH (last).

    A row breaches when |drift| > its band: `threshold` in absolute mode (times the holding's
    `band_share`), target x `relative_band` in relative mode (the absolute threshold for a
    target of 0). Weights are exact quotients at the context's precision: actual = value /
    total value, drift = actual - target; cash's actual weight is 1 minus the running sum of
    the securities' (so a valued account's weights sum to exactly 1). An account worth
    nothing has all actual weights 0 and breaches nothing.
    """
    frame = _Frame(snapshot)
    return _report(frame, frame.values, snapshot.cash)[0]


def drift_after_trades(snapshot: AccountSnapshot, trades: Iterable[tuple[str, str, Decimal, Decimal]]) -> DriftReport:
    """The drift once `trades` -- (symbol, side, quantity, amount in the account currency) -- are
    done at the snapshot's prices, each paying `commission_per_trade` from cash: a plan's
    `drift_after` (`generate_trades` computes it here), and so what a proposal that keeps only
    its inputs and trades derives again when it is read. Every symbol is one of the holdings."""
    return _after_trades(_Frame(snapshot), trades)


def _after_trades(
    frame: _Frame,
    trades: Iterable[tuple[str, str, Decimal, Decimal]],
    cash: Decimal | None = None,
    prior: _Weights | None = None,
) -> DriftReport:
    """`drift_after_trades` on a frame, from `cash` (the snapshot's by default; a cash flow's
    plan starts once the flow has landed). `prior`: the frame's report at that cash before
    the trades, whose unmoved rows are reused when the total did not change."""
    snapshot = frame.snapshot
    moved: dict[int, Decimal] = {}
    cash = snapshot.cash if cash is None else cash
    fee = snapshot.commission_per_trade
    position = frame.position
    for symbol, side, quantity, amount in trades:
        i = position(symbol)
        if side == BUY:
            moved[i] = moved.get(i, ZERO) + quantity
            cash -= amount + fee
        else:
            moved[i] = moved.get(i, ZERO) - quantity
            cash += amount - fee
    values = frame.values.copy()
    holdings = frame.holdings
    for i, change in moved.items():
        values[i] = (holdings[i].quantity + change) * holdings[i].price
    return _report(frame, values, cash, prior, moved)[0]


_HUNDRED = Decimal(100)
_HUNDREDTH = Decimal("0.01")


def _points(weight: Decimal) -> str:
    return str((weight * _HUNDRED).quantize(_HUNDREDTH, ROUND_HALF_EVEN))  # str(): what format(x, "") gives


PERIOD_MONTHS = {"monthly": 1, "quarterly": 3}


def calendar_due(schedule: str, as_of: date) -> bool:
    """True on the first business day (Monday to Friday) of a month (`monthly`) or of January,
    April, July and October (`quarterly`); never for `threshold`."""
    months = PERIOD_MONTHS.get(str(schedule))
    if months is None or as_of.weekday() >= 5 or (as_of.month - 1) % months:
        return False
    # no business day before it in the same month
    return all(date(as_of.year, as_of.month, d).weekday() >= 5 for d in range(1, as_of.day))


def _breach_order(row: DriftRow) -> tuple[Decimal, str]:
    return -abs(row.drift), row.symbol


def decide(snapshot: AccountSnapshot, drift: DriftReport) -> Decision:
    """Threshold strategy: rebalance when any row is outside its band (or cash is below the
    reserve, which the trades must restore); the reason names every breach. Calendar strategy
    beside it: on the first business day of the account's period (`calendar_due`) rebalance
    whatever the drift."""
    if drift.total_value <= ZERO:
        return new_decision(snapshot.account_id, False, "The account has no value.")
    if calendar_due(snapshot.schedule, snapshot.as_of) and drift.max_drift > ZERO:
        return new_decision(
            snapshot.account_id,
            True,
            f"Calendar rebalance ({snapshot.schedule}): the first business day of the period, "
            f"largest drift {_points(drift.max_drift)} points.",
        )
    reasons = []
    breached = [r for r in drift.rows if r.breached]
    if len(breached) > 1:
        breached.sort(key=_breach_order)
    band: Decimal | None = None
    band_points = ""
    for row in breached:
        side = "over" if row.drift > ZERO else "under"
        if row.band is not band:  # the rows of an absolute band share one Decimal
            band = row.band
            band_points = _points(band)
        reasons.append(f"{row.symbol} is {_points(abs(row.drift))} points {side} target (band {band_points})")
    reserve = snapshot.cash_reserve * drift.total_value
    if snapshot.cash < reserve:
        places = _UNITS[snapshot.money_places]
        reasons.append(f"cash {snapshot.cash.quantize(places)} is below the reserve of {reserve.quantize(places)}")
    if reasons:
        return new_decision(snapshot.account_id, True, "; ".join(reasons) + ".")
    return new_decision(
        snapshot.account_id,
        False,
        f"Every weight is inside its band (largest drift {_points(drift.max_drift)} points).",
    )
