"""The market-data interface: what a provider answers (`MarketData`), the events it reports, and
its one error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from portfolios.errors import PortfoliosError


class MarketDataError(PortfoliosError):
    """The market-data provider could not be reached or answered nonsense."""

    status_code = 502


@dataclass(frozen=True, slots=True)
class CorporateActionEvent:
    """A dividend or split as a provider reports it, in Kronos's terms.

    `kind` is "cash_dividend" or "split" (the direction of a split follows from the ratio);
    a split is `ratio_numerator` new shares for `ratio_denominator` old ones (Polygon's
    `split_to` / `split_from`, reduced to whole numbers)."""

    external_id: str
    symbol: str
    kind: str
    ex_date: date
    record_date: date | None = None
    pay_date: date | None = None
    amount_per_share: Decimal | None = None
    currency: str = "USD"
    ratio_numerator: int | None = None
    ratio_denominator: int | None = None
    cash_in_lieu_price: Decimal | None = None


def exact_ratio(split_to: Decimal, split_from: Decimal) -> tuple[int, int]:
    """Polygon's split_to / split_from (numbers, possibly like 1.5) as whole new/old terms."""
    if split_to <= 0 or split_from <= 0:
        raise MarketDataError(f"A split ratio of {split_to} for {split_from} is not positive.")
    ratio = Fraction(split_to) / Fraction(split_from)
    return ratio.numerator, ratio.denominator


class MarketData(Protocol):
    name: str

    def daily_closes(self, symbols: list[str], start: date, end: date) -> dict[str, list[tuple[date, Decimal]]]:
        """Each symbol's closes in [start, end], oldest first (symbols without data map to [])."""
        ...

    def latest_close(self, symbol: str) -> tuple[date, Decimal] | None:
        """The symbol's most recent close, or None."""
        ...

    def corporate_actions(self, symbols: list[str], start: date, end: date) -> list[CorporateActionEvent]:
        """The cash dividends and splits of `symbols` with an ex-date in [start, end]."""
        ...
