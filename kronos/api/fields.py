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

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from djmoney.money import Money
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kronos.api.decimals import DECIMAL_RE as _DECIMAL_RE
from kronos.api.decimals import (
    DEFAULT_MAX_DECIMAL,
    DEFAULT_MAX_MONEY,
    currency_places,
    decimal_pattern,
    decimal_to_str,
    parse_decimal,
    places_of,
)
from kronos.api.decimals import check_bounds as _check_bounds
from kronos.api.decimals import check_pattern as _check_pattern
from kronos.api.serializers import InputSerializer, json_type_error


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


class DateTimeInputField(serializers.DateTimeField):
    """A date and time asked for (a filter's bound): DRF's, but a value the time zone moves past
    year 1 or 9999 ("9999-12-31T23:59:59" in UTC-5) is a field error, not an OverflowError (500)."""

    def to_internal_value(self, value: Any) -> Any:
        try:
            return super().to_internal_value(value)
        except OverflowError:
            raise serializers.ValidationError("This date and time is out of range.") from None
