"""Strict DRF fields for money, decimals and quantities, shared by every app's API.

JSON carries decimals as strings. These fields accept a decimal as a JSON **string**
("1234.56") or a JSON **integer** (1234), and refuse a JSON float (12.5): a float has
already lost precision in the client's JSON encoder before it reaches us, so we ask for
the string instead of guessing. They also refuse what `Decimal()` would accept but no
amount should be: NaN, Infinity, exponents ("1e30"), thousands separators ("1,000"),
booleans, digits of other scripts (full-width "10"), more decimal places than allowed and values out
of bounds.

Money is `{"amount": "1234.56", "currency": "USD"}`: the currency is required, must be
one Kronos supports (settings.CURRENCIES), and the amount may carry at most the
currency's minor-unit places (2 for USD, 0 for JPY). Output amounts are rounded to
those places with ROUND_HALF_EVEN (the "display" rounding place).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision
from django.conf import settings
from djmoney.money import Money
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# A plain decimal: optional sign, ASCII digits, optional fraction. Nothing else: without
# re.ASCII, \d matches every script's digits (full-width, Arabic-Indic), which Decimal() accepts too.
_DECIMAL_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$", re.ASCII)
_MAX_INPUT_LENGTH = 40
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
    if len(text) > _MAX_INPUT_LENGTH:
        raise serializers.ValidationError(f"The {what} is too long.")
    if not _DECIMAL_RE.match(text):
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
    places = _MAX_INPUT_LENGTH if max_places is None else max_places
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


def _check_pattern(data: Any, pattern: str, *, what: str) -> None:
    """The last gate of a decimal input: the documented pattern, on the text as sent (no sign, no
    surrounding spaces: what the bounds allow is also what the schema says)."""
    text = str(data) if isinstance(data, int) and not isinstance(data, bool) else data
    if not (isinstance(text, str) and re.fullmatch(pattern, text)):
        raise serializers.ValidationError(f'Write the {what} as plain digits without a sign or spaces, e.g. "12.34".')


def _check_bounds(
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


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^[+-]?(\d+(\.\d*)?|\.\d+)$",
        "example": "0.6",
        "description": "A decimal as a string (a JSON integer is accepted too; JSON floats are refused).",
    }
)
class DecimalStringField(serializers.Field):
    """A decimal in and out as a string: weights, fractions, thresholds, prices.

    `max_places` limits the places a client may send; `output_places` rounds the answer
    (ROUND_HALF_EVEN) to that many places, keeping them unless `strip_zeros`; by default
    trailing zeros are dropped, so a weight 0.600000 reads "0.6".
    """

    default_error_messages = {"invalid": 'Send a decimal string, e.g. "12.34".'}

    def __init__(
        self,
        *,
        max_places: int | None = 6,
        min_value: Decimal | int | str | None = None,
        max_value: Decimal | int | str | None = DEFAULT_MAX_DECIMAL,
        min_exclusive: bool = False,
        output_places: int | None = None,
        strip_zeros: bool = False,
        what: str = "number",
        **kwargs: Any,
    ) -> None:
        self.max_places = max_places
        self.min_value = Decimal(min_value) if min_value is not None else None
        self.max_value = Decimal(max_value) if max_value is not None else None
        self.min_exclusive = min_exclusive
        self.output_places = output_places
        self.strip_zeros = strip_zeros
        self.what = what
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        number = parse_decimal(data, max_places=self.max_places, what=self.what)
        _check_bounds(
            number, what=self.what, min_value=self.min_value, max_value=self.max_value, min_exclusive=self.min_exclusive
        )
        pattern = self.schema_pattern()
        if pattern is not None:
            _check_pattern(data, pattern, what=self.what)
        return number

    def schema_pattern(self) -> str | None:
        """The documented pattern of the strings this field takes (decimal_pattern), None when its
        bounds have none (a field the schema then documents as a plain decimal string)."""
        try:
            return decimal_pattern(
                max_places=self.max_places,
                min_value=self.min_value,
                min_exclusive=self.min_exclusive,
                max_value=self.max_value,
            )
        except ValueError:
            return None

    def to_representation(self, value: Any) -> str:
        return decimal_to_str(Decimal(value), self.output_places, strip=self.strip_zeros)


class FractionField(DecimalStringField):
    """A fraction of 1 ("0.6" is 60%): weights, drift thresholds, cash reserves (6 places)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_places", 6)
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("max_value", Decimal(1))
        kwargs.setdefault("what", "fraction")
        super().__init__(**kwargs)


class QuantityField(DecimalStringField):
    """A share quantity: positive, at most 9 decimal places (what custodian APIs accept)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_places", 9)
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("min_exclusive", True)
        kwargs.setdefault("max_value", Decimal("1000000000"))
        kwargs.setdefault("what", "quantity")
        super().__init__(**kwargs)


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "amount": {"type": "string", "format": "decimal", "example": "1234.56"},
            "currency": {"type": "string", "example": "USD", "minLength": 3, "maxLength": 3},
        },
        "required": ["amount", "currency"],
        "additionalProperties": False,
    }
)
class MoneyField(serializers.Field):
    """Money in and out as `{"amount": "1234.56", "currency": "USD"}`; internally a djmoney `Money`.

    Options: `allow_negative` (default False), `allow_zero` (default True), `max_amount`
    (default one trillion), `currencies` (default settings.CURRENCIES). A Decimal on
    output is taken to be in `default_currency`, or in the currency the instance names at the
    dotted path `currency_from` (an output-only option: "currency", "account.base_currency").
    """

    def __init__(
        self,
        *,
        allow_negative: bool = False,
        allow_zero: bool = True,
        max_amount: Decimal | int | str = DEFAULT_MAX_MONEY,
        currencies: tuple[str, ...] | list[str] | None = None,
        default_currency: str | None = None,
        currency_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.currency_from = currency_from
        self.allow_negative = allow_negative
        self.allow_zero = allow_zero
        self.max_amount = Decimal(max_amount)
        self.currencies = tuple(currencies) if currencies is not None else None
        self.default_currency = default_currency
        super().__init__(**kwargs)

    def _currencies(self) -> tuple[str, ...]:
        return self.currencies or tuple(settings.CURRENCIES)

    def to_internal_value(self, data: Any) -> Money:
        if not isinstance(data, dict):
            raise serializers.ValidationError('Send money as an object: {"amount": "1234.56", "currency": "USD"}.')
        unknown = set(data) - {"amount", "currency"}
        if unknown:
            raise serializers.ValidationError(f"Unexpected keys in money: {', '.join(sorted(map(str, unknown)))}.")
        if "amount" not in data or data["amount"] is None:
            raise serializers.ValidationError({"amount": ["The amount is required."]})
        if "currency" not in data or data["currency"] in (None, ""):
            raise serializers.ValidationError({"currency": ['The currency is required, e.g. "USD".']})
        currency = data["currency"]
        if not isinstance(currency, str) or currency.upper() not in self._currencies():
            raise serializers.ValidationError(
                {"currency": [f"“{currency}” is not a currency we accept: use one of {', '.join(self._currencies())}."]}
            )
        currency = currency.upper()
        places = currency_places(currency)
        try:
            amount = parse_decimal(data["amount"], max_places=places, what="amount")
        except serializers.ValidationError as exc:
            detail: list[Any] = exc.detail if isinstance(exc.detail, list) else [exc.detail]
            if places_of_safe(data["amount"]) > places:
                detail = [f"A {currency} amount may have at most {places} decimal places."]
            raise serializers.ValidationError({"amount": detail}) from exc
        errors: list[str] = []
        if amount < 0 and not self.allow_negative:
            errors.append("The amount cannot be negative.")
        elif amount == 0 and not self.allow_zero:
            errors.append("The amount must be greater than zero.")
        elif abs(amount) > self.max_amount:
            errors.append(f"The amount must be at most {decimal_to_str(self.max_amount)}.")
        if errors:
            raise serializers.ValidationError({"amount": errors})
        pattern = self.amount_pattern(places)
        if pattern is not None:
            try:
                _check_pattern(data["amount"], pattern, what="amount")
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"amount": exc.detail}) from exc
        return Money(amount, currency)

    def amount_pattern(self, places: int) -> str | None:
        """The documented pattern of an amount with `places` places (see decimal_pattern)."""
        if self.allow_negative:
            return None
        try:
            return decimal_pattern(
                max_places=places, min_value=Decimal(0), min_exclusive=not self.allow_zero, max_value=self.max_amount
            )
        except ValueError:
            return None

    def currencies_by_places(self) -> dict[int, list[str]]:
        """The accepted currencies grouped by their minor-unit places (2: USD..., 0: JPY)."""
        groups: dict[int, list[str]] = {}
        for currency in self._currencies():
            groups.setdefault(currency_places(currency), []).append(currency)
        return groups

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        if self.currency_from is None or value is None or isinstance(value, Money | dict):
            return value
        currency = instance
        for name in self.currency_from.split("."):
            currency = getattr(currency, name)
        return {"amount": value, "currency": str(currency)}

    def to_representation(self, value: Any) -> dict[str, str]:
        if isinstance(value, Money):
            amount, currency = value.amount, str(value.currency)
        elif isinstance(value, dict):
            amount, currency = Decimal(value["amount"]), str(value["currency"])
        else:
            amount = Decimal(value)
            currency = self.default_currency or settings.DEFAULT_CURRENCY
        return {"amount": decimal_to_str(amount, currency_places(currency)), "currency": currency}


def places_of_safe(value: Any) -> int:
    """Decimal places of a string or number a client sent, 0 when it isn't a plain decimal."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not _DECIMAL_RE.match(text):
        return 0
    try:
        return places_of(Decimal(text))
    except InvalidOperation:  # pragma: no cover
        return 0


def money_dict(amount: Decimal, currency: str) -> dict[str, str]:
    """`{"amount": "...", "currency": "..."}` for an amount, rounded to the currency's places."""
    return {"amount": decimal_to_str(Decimal(amount), currency_places(currency)), "currency": currency}


__all__ = [
    "DecimalStringField",
    "FractionField",
    "InputSerializer",
    "MoneyField",
    "QuantityField",
    "currency_places",
    "decimal_pattern",
    "decimal_to_str",
    "json_type_error",
    "money_dict",
    "parse_decimal",
]


# A request body taken exactly as the schema describes it (kronos/api/schema.py documents such a
# body with `additionalProperties: false`). (Comments, not a docstring: drf-spectacular would
# print a docstring as the description of every input component.)
# - a key that names no field is refused (DRF would ignore it);
# - a boolean field takes only JSON `true`/`false` (DRF also takes 0/1, "yes", "on"...);
# - a string field takes only a JSON string (DRF also takes 12 and 1.5 and makes them text);
# - an integer field takes only a JSON integer (DRF also takes "12" and 12.0).
# Nested inputs and list items follow the same rules when they are InputSerializers.
class InputSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return super().to_internal_value(data)
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            if name in data and not field.read_only:
                message = json_type_error(field, data[name])
                if message:
                    errors[name] = [message]
        unknown = sorted(str(key) for key in data if key not in self.fields or self.fields[key].read_only)
        try:  # the other fields' own errors too, in one answer
            value = super().to_internal_value({k: v for k, v in data.items() if k not in errors})
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            errors = {**detail, **errors}
        if unknown:
            errors.setdefault("non_field_errors", []).append(f"Unknown field(s): {', '.join(unknown)}.")
        if errors:
            raise serializers.ValidationError(errors)
        return value


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    """Why `value` is not of the JSON type `field` documents, or None when it is (null is left to
    the field's allow_null)."""
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Must be a string."
    if (
        isinstance(field, serializers.ChoiceField)
        and not isinstance(field, serializers.MultipleChoiceField)
        and not isinstance(value, str)
    ):
        return "Must be one of the documented strings."
    if isinstance(field, serializers.IntegerField) and (isinstance(value, bool) or not isinstance(value, int)):
        return "Must be a whole number (a JSON integer)."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for item in value:
            message = json_type_error(field.child, item)
            if message:
                return message
    return None
