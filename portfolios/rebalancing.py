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

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

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


@dataclass(frozen=True, slots=True)
class Holding:
    """A security the account holds or its model targets (quantity 0 if only targeted)."""

    symbol: str
    quantity: Decimal
    price: Decimal
    target_weight: Decimal  # 0 when held but not in the model
    lots: tuple[Lot, ...] = ()
    restricted: bool = False  # never bought (firm restricted list, inactive security)
    last_loss_sale_on: date | None = None  # most recent sale at a loss (wash-sale rule)


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

    @property
    def invested_value(self) -> Decimal:
        return sum((h.quantity * h.price for h in self.holdings), ZERO)

    @property
    def total_value(self) -> Decimal:
        return self.invested_value + self.cash


@dataclass(frozen=True, slots=True)
class DriftRow:
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


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    side: str  # "buy" | "sell"
    quantity: Decimal
    price: Decimal
    estimated_amount: Decimal  # quantity x price, rounded to cents
    lot_sales: tuple[LotSale, ...] = ()
    realised_gain: Decimal = ZERO


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
