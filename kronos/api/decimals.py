"""Decimal primitives of the API fields (`kronos.api.fields`): parsing a decimal a client sent
(strictly: no floats, exponents, separators or other scripts' digits), writing one out, the
places of a currency, and the documented pattern and bounds of a decimal input."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision
from rest_framework import serializers

# A plain decimal: optional sign, ASCII digits, optional fraction. Nothing else: without
# re.ASCII, \d matches every script's digits (full-width, Arabic-Indic), which Decimal() accepts too.
DECIMAL_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$", re.ASCII)
MAX_INPUT_LENGTH = 40
#: Above any amount a client account will hold; refuses 1e30-style values with a clear message.
DEFAULT_MAX_MONEY = Decimal("1000000000000")  # one trillion
DEFAULT_MAX_DECIMAL = Decimal("1000000000000")


def currency_places(currency: str) -> int:
    """Minor-unit decimal places of a currency (2 for USD, 0 for JPY)."""
    try:
        return int(get_currency_precision(currency))
    except Exception:  # unknown to babel: the common case  # noqa: BLE001
        return 2


def places_of(value: Decimal) -> int:
    """Decimal places written in `value` ("1.50" has 2); 0 for integers."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def decimal_to_str(value: Decimal, places: int | None = None, *, strip: bool = False) -> str:
    """A decimal as a plain string (never exponent notation).

    With `places`, rounded to that many places (ROUND_HALF_EVEN); without, trailing zeros
    are dropped ("0.600000" -> "0.6", "10.000" -> "10"); with both and `strip`, rounded then
    stripped.
    """
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if value == 0:
        value = abs(value)  # never "-0.00"
    if places is not None and not strip:
        return f"{value:f}"
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_decimal(value: Any, *, max_places: int | None, what: str = "number") -> Decimal:
    """Parse a JSON string or integer into a finite Decimal, refusing floats and look-alikes.

    Raises serializers.ValidationError with a message a client can act on.
    """
    if isinstance(value, bool):
        raise serializers.ValidationError(f'Send the {what} as a decimal string, e.g. "12.34", not a boolean.')
    if isinstance(value, float):
        raise serializers.ValidationError(
            f'Send the {what} as a decimal string, e.g. "12.34": JSON floats lose precision.'
        )
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise serializers.ValidationError(f'Send the {what} as a decimal string, e.g. "12.34".')
    if not text:
        raise serializers.ValidationError(f"The {what} is empty.")
    if len(text) > MAX_INPUT_LENGTH:
        raise serializers.ValidationError(f"The {what} is too long.")
    if not DECIMAL_RE.match(text):
        if "," in text:
            hint = "without thousands separators"
        elif "e" in text.lower() and any(c.isdigit() for c in text):
            hint = "without exponent notation"
        else:
            hint = "as plain digits"
        raise serializers.ValidationError(f'“{text}” is not a valid {what}: write it {hint}, e.g. "1234.56".')
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern above already refuses these
        raise serializers.ValidationError(f"“{text}” is not a valid {what}.") from exc
    if max_places is not None and places_of(number) > max_places:
        if max_places == 0:
            raise serializers.ValidationError(f"The {what} must be a whole number.")
        raise serializers.ValidationError(f"The {what} may have at most {max_places} decimal places.")
    return number


def decimal_pattern(
    *, max_places: int | None, min_value: Decimal | None, min_exclusive: bool, max_value: Decimal | None
) -> str:
    """The regular expression (ECMA and Python alike) of exactly the decimal strings a field with
    these bounds takes: plain ASCII digits, no sign, at most `max_places` places, from 0 (or above
    0 when `min_exclusive`) up to `max_value`. The schema documents it; the field checks it too,
    so the two cannot disagree. Bounds it cannot express raise ValueError (at schema generation,
    never silently): `min_value` must be 0, `max_value` a power of ten or just under 1."""
    if min_value is None or min_value != 0 or max_value is None:
        raise ValueError(f"no decimal pattern for min {min_value} / max {max_value}")
    places = MAX_INPUT_LENGTH if max_places is None else max_places
    fraction = rf"(?:\.\d{{0,{places}}})?" if places else r"\.?"
    zero_fraction = rf"(?:\.0{{0,{places}}})?" if places else r"\.?"
    # A fraction holding a nonzero digit within `places` places, with a zero or empty integer part.
    small = "|".join(rf"0{{{j}}}[1-9]\d{{0,{places - 1 - j}}}" for j in range(places))
    small_branch = [rf"0*\.(?:{small})"] if places else []
    if places and max_value == 1 - Decimal(1).scaleb(-places):  # below 1: the integer part is zero
        branches = small_branch if min_exclusive else [rf"0+{fraction}", rf"0*\.\d{{1,{places}}}"]
    else:
        k = len(str(int(max_value))) - 1
        if max_value != Decimal(10) ** k:
            raise ValueError(f"no decimal pattern for max {max_value}")
        top = rf"0*1{'0' * k}{zero_fraction}"  # max_value itself
        if min_exclusive:
            whole = [rf"0*[1-9]\d{{0,{k - 1}}}{fraction}"] if k else []
            branches = [*whole, *small_branch, top]
        else:
            whole = [rf"0*\d{{1,{k}}}{fraction}"] if k else [rf"0+{fraction}"]
            dot_only = [rf"\.\d{{1,{places}}}"] if places else []
            branches = [*whole, *dot_only, top]
    return "^(?:" + "|".join(branches) + ")$"


def check_pattern(data: Any, pattern: str, *, what: str) -> None:
    """The last gate of a decimal input: the documented pattern, on the text as sent (no sign, no
    surrounding spaces: what the bounds allow is also what the schema says)."""
    text = str(data) if isinstance(data, int) and not isinstance(data, bool) else data
    if not (isinstance(text, str) and re.fullmatch(pattern, text)):
        raise serializers.ValidationError(f'Write the {what} as plain digits without a sign or spaces, e.g. "12.34".')


def check_bounds(
    number: Decimal,
    *,
    what: str,
    min_value: Decimal | None,
    max_value: Decimal | None,
    min_exclusive: bool = False,
) -> None:
    if min_value is not None:
        if min_exclusive and number <= min_value:
            if min_value == 0:
                raise serializers.ValidationError(f"The {what} must be greater than zero.")
            raise serializers.ValidationError(f"The {what} must be greater than {decimal_to_str(min_value)}.")
        if not min_exclusive and number < min_value:
            if min_value == 0:
                raise serializers.ValidationError(f"The {what} cannot be negative.")
            raise serializers.ValidationError(f"The {what} must be at least {decimal_to_str(min_value)}.")
    if max_value is not None and number > max_value:
        raise serializers.ValidationError(f"The {what} must be at most {decimal_to_str(max_value)}.")
