"""Numbers shared by the portfolios services: the quanta and the strict decimal reading of input."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from portfolios.errors import PortfoliosError
from portfolios.models import (
    PRICE_PLACES,
    QUANTITY_PLACES,
)

CENT = Decimal("0.01")
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
COST_QUANTUM = Decimal("0.000001")
HUNDRED = Decimal(100)


def to_cents(value: Decimal) -> Decimal:
    """Cash amounts: 2 places, ROUND_HALF_EVEN."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def parse_decimal(value: Any, *, field: str, what: str) -> Decimal:
    if isinstance(value, float):
        raise PortfoliosError(f"{what} must be given as a decimal, not a float.", field=field)
    try:
        result = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise PortfoliosError(f"{what} is not a number: '{value}'.", field=field) from exc
    if not result.is_finite():
        raise PortfoliosError(f"{what} is not a number: '{value}'.", field=field)
    return result


SHARE_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)
WHOLE = Decimal(1)
