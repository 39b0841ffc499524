"""The sandbox custodian's records: its orders, options, counters, books and corporate actions,
and the market's calendar (its business date and session hours)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

QUANTITY_PLACES = Decimal("0.000000001")
CENTS = Decimal("0.01")
MAX_QUANTITY = Decimal("1e12")
STATEMENTS_PAGE = 500  # accounts one `GET /v1/statements` answers for


def execution_amount(quantity: Decimal, price: Decimal) -> Decimal:
    """Cash value of one execution, rounded to cents half-even (Kronos rounds the same way)."""
    return (quantity * price).quantize(CENTS, rounding=ROUND_HALF_EVEN)


#: The custodian's business day is the US market's: its trade dates (and statements) turn over at
#: midnight in New York, not at midnight UTC (which falls at 19:00 or 20:00 there).
MARKET_TIME_ZONE = ZoneInfo("America/New_York")


def business_date(now: datetime | None = None) -> date:
    """The custodian's date at `now` (default: this moment)."""
    return (now or datetime.now(UTC)).astimezone(MARKET_TIME_ZONE).date()


MARKET_OPEN = clock_time(9, 30)
MARKET_CLOSE = clock_time(16, 0)


def market_is_open(now: datetime | None = None) -> bool:
    """Whether the regular session is on at `now` (default: this moment): a weekday between the
    open and the close in New York. (Exchange holidays are the caller's calendar: the sandbox is
    not told them.)"""
    local = (now or datetime.now(UTC)).astimezone(MARKET_TIME_ZONE)
    return local.weekday() < 5 and MARKET_OPEN <= local.time() < MARKET_CLOSE


@dataclass
class SandboxOrder:
    id: str
    client_order_id: str
    account: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    price: Decimal
    status: str = "accepted"
    filled: Decimal = Decimal(0)
    executions: int = 0

    def as_json(self, message: str = "") -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "quantity": str(self.quantity),
            "status": self.status,
            "filled_quantity": str(self.filled),
            "message": message,
        }


@dataclass
class Options:
    fail_rate: float = 0.0
    delay: float = 0.0
    duplicate_rate: float = 0.0
    reorder: bool = False
    partial_fills: bool = False
    hold: bool = False
    reject_rate: float = 0.0  # orders refused with 422 ("rejected by the custodian")
    partial_rate: float = 0.0  # orders filled in part now, the rest at the next fill round
    defer_rate: float = 0.0  # webhooks held back from a delivery round (sent in a later one)
    # Orders taken outside the market's hours (09:30-16:00 New York, Monday to Friday) wait for the
    # next session, as a custodian queues them; `fill_held` (the open) works them then.
    market_hours: bool = False

    def update(self, data: dict[str, Any]) -> None:
        for key in ("fail_rate", "delay", "duplicate_rate", "reject_rate", "partial_rate", "defer_rate"):
            if key in data:
                setattr(self, key, float(data[key]))
        for key in ("reorder", "partial_fills", "hold", "market_hours"):
            if key in data:
                setattr(self, key, bool(data[key]))


@dataclass
class Stats:
    orders: int = 0
    duplicates_deduped: int = 0
    injected_failures: int = 0
    webhooks_sent: int = 0
    webhook_failures: int = 0
    injected_rejections: int = 0
    partial_orders: int = 0
    deferred_webhooks: int = 0
    expired_orders: int = 0


@dataclass
class _Book:
    # (day, asset, delta): "CASH" or a symbol
    moves: list[tuple[date, str, Decimal]] = field(default_factory=list)
    fractional_shares: bool | None = None  # None: not told (a fraction held means yes)


@dataclass(frozen=True)
class SandboxCorporateAction:
    id: str
    type: str  # "cash_dividend" | "split"
    symbol: str
    ex_date: date
    pay_date: date | None = None
    cash_amount: Decimal | None = None
    split_to: int | None = None
    split_from: int | None = None
    cash_in_lieu_price: Decimal | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "symbol": self.symbol,
            "ex_date": self.ex_date.isoformat(),
            "pay_date": self.pay_date.isoformat() if self.pay_date else None,
            "cash_amount": None if self.cash_amount is None else str(self.cash_amount),
            "split_to": self.split_to,
            "split_from": self.split_from,
            "cash_in_lieu_price": None if self.cash_in_lieu_price is None else str(self.cash_in_lieu_price),
        }
