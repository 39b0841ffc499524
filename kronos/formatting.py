"""How pages show money, percentages and quantities: the one display rule of the portal.

Every page formats numbers through these functions (templates through the filters of
`kronos.templatetags.kronos_format`, which are template built-ins; views through the functions
themselves), so a figure looks the same wherever it appears:

- money: the currency's symbol for USD, else its code, thousands separators, cents rounded
  half-even: ``$39,528.00``, ``-$1,250.50`` (shown with a typographic minus), ``EUR 12.00``;
- prices: as money, with as many decimals as the price has (at least 2, at most 4, the price
  precision of DESIGN.md's money rules): ``$187.1234``; never rounded to cents;
- percent (a fraction: 0.0958 is 9.58%) and drift in points: 2 decimals, half-even, ``9.58%``,
  signed ``+9.58%`` / ``-3.10%`` where the sign means something;
- quantities: exact, with separators and no trailing zeros: ``1,234.5``, ``0.000000001``,
  ``12``; a real fraction is never rounded away.

A value that is not a number (None, "", text) shows as an em dash. The minus sign is the
typographic U+2212, so negative figures line up with positive ones in tables.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

DASH = "—"
MINUS = "−"
CENT = Decimal("0.01")
PRICE_PLACES = 4


def to_decimal(value: Any) -> Decimal | None:
    """The value as a Decimal (from a Decimal, int, or a string as JSON snapshots keep them); None otherwise."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))  # a float never reaches money code; this only keeps a stray one readable
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _signed(text: str, negative: bool, *, plus: bool) -> str:
    if negative:
        return MINUS + text
    return "+" + text if plus else text


def _symbol(currency: str) -> str:
    return "$" if currency in ("", "USD") else f"{currency} "


def money(value: Any, currency: str = "USD", *, signed: bool = False) -> str:
    """Cash rounded to cents half-even, with the currency and thousands separators."""
    amount = to_decimal(value)
    if amount is None:
        return DASH
    cents = amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return _signed(f"{_symbol(currency)}{abs(cents):,.2f}", cents < 0, plus=signed and cents > 0)


def price(value: Any, currency: str = "USD") -> str:
    """A price as it is (up to 4 decimals, at least 2): a price of 187.1234 is not shown as 187.12."""
    amount = to_decimal(value)
    if amount is None:
        return DASH
    exact = amount.quantize(Decimal(1).scaleb(-PRICE_PLACES), rounding=ROUND_HALF_EVEN).normalize()
    exponent = exact.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return _signed(f"{_symbol(currency)}{abs(exact):,.{places}f}", exact < 0, plus=False)


def percent(value: Any, places: int = 2, *, signed: bool = False) -> str:
    """A fraction as a percentage (0.0958 -> 9.58%), rounded half-even to `places` decimals."""
    fraction = to_decimal(value)
    if fraction is None:
        return DASH
    shown = (fraction * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return _signed(f"{abs(shown):,.{places}f}%", shown < 0, plus=signed and shown > 0)


def quantity(value: Any) -> str:
    """Shares (or any count) exactly, with separators and without trailing zeros."""
    amount = to_decimal(value)
    if amount is None:
        return DASH
    text = f"{abs(amount):,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _signed(text, amount < 0 and text != "0", plus=False)


def number(value: Any, places: int = 2) -> str:
    """A plain figure (basis points, scores) rounded half-even to `places` decimals, with separators."""
    amount = to_decimal(value)
    if amount is None:
        return DASH
    shown = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return _signed(f"{abs(shown):,.{places}f}", shown < 0, plus=False)
