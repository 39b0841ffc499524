"""The strict API fields: what they accept, what they refuse and what they say."""

import re
from decimal import Decimal

import pytest
from djmoney.money import Money
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from kronos.api.fields import (
    DecimalStringField,
    FractionField,
    InputSerializer,
    MoneyField,
    QuantityField,
    decimal_pattern,
    decimal_to_str,
)


class PaymentInput(serializers.Serializer):
    amount = MoneyField()


class WeightInput(serializers.Serializer):
    weight = FractionField()


class QuantityInput(serializers.Serializer):
    quantity = QuantityField()


class PriceInput(serializers.Serializer):
    close = DecimalStringField(max_places=4, min_value=0, min_exclusive=True, max_value="100000", what="price")


def errors_of(serializer_class, data):
    s = serializer_class(data=data)
    assert not s.is_valid(), f"{data!r} was accepted"
    return s.errors


def first_message(errors, *path):
    node = errors
    for key in path:
        node = node[key]
    return str(node[0] if isinstance(node, list) else node)


# --- MoneyField -------------------------------------------------------------------------


def test_money_accepts_a_string_amount_with_its_currency():
    s = PaymentInput(data={"amount": {"amount": "1234.56", "currency": "USD"}})
    assert s.is_valid(), s.errors
    assert s.validated_data["amount"] == Money(Decimal("1234.56"), "USD")


def test_money_accepts_an_integer_amount_and_a_lower_case_currency():
    s = PaymentInput(data={"amount": {"amount": 1000, "currency": "usd"}})
    assert s.is_valid(), s.errors
    assert s.validated_data["amount"] == Money(Decimal("1000"), "USD")


def test_money_answers_amount_and_currency_as_strings_rounded_to_the_currency():
    field = MoneyField()
    assert field.to_representation(Money(Decimal("1234.5"), "USD")) == {"amount": "1234.50", "currency": "USD"}
    assert field.to_representation(Money(Decimal("0.125"), "USD")) == {"amount": "0.12", "currency": "USD"}
    assert field.to_representation(Money(Decimal("1500"), "JPY")) == {"amount": "1500", "currency": "JPY"}
    assert field.to_representation(Decimal("-0.001")) == {"amount": "0.00", "currency": "USD"}


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("NaN", "not a valid amount"),
        ("Infinity", "not a valid amount"),
        ("-inf", "not a valid amount"),
        ("1e30", "without exponent notation"),
        ("1E3", "without exponent notation"),
        ("1,000", "without thousands separators"),
        ("12.345", "at most 2 decimal places"),
        ("", "empty"),
        ("abc", "not a valid amount"),
        (12.5, "JSON floats lose precision"),
        (True, "not a boolean"),
        ("-5.00", "cannot be negative"),
        ("10000000000000", "at most 1000000000000"),
        ("9" * 50, "too long"),
    ],
)
def test_money_refuses_bad_amounts_with_a_clear_message(amount, message):
    errors = errors_of(PaymentInput, {"amount": {"amount": amount, "currency": "USD"}})
    assert message in first_message(errors, "amount", "amount")


def test_money_refuses_a_missing_currency():
    errors = errors_of(PaymentInput, {"amount": {"amount": "10.00"}})
    assert "currency is required" in first_message(errors, "amount", "currency")


def test_money_refuses_an_unknown_currency():
    errors = errors_of(PaymentInput, {"amount": {"amount": "10.00", "currency": "XYZ"}})
    assert "not a currency we accept" in first_message(errors, "amount", "currency")


def test_money_refuses_a_missing_amount():
    errors = errors_of(PaymentInput, {"amount": {"currency": "USD"}})
    assert "amount is required" in first_message(errors, "amount", "amount")


@pytest.mark.parametrize("value", ["10.00", 10, ["10", "USD"], None])
def test_money_refuses_anything_but_an_object(value):
    errors = errors_of(PaymentInput, {"amount": value})
    assert "amount" in errors


def test_money_refuses_unexpected_keys():
    errors = errors_of(PaymentInput, {"amount": {"amount": "1", "currency": "USD", "rate": "2"}})
    assert "Unexpected keys" in first_message(errors, "amount")


def test_money_respects_the_currency_places():
    errors = errors_of(PaymentInput, {"amount": {"amount": "100.5", "currency": "JPY"}})
    assert "JPY amount may have at most 0 decimal places" in first_message(errors, "amount", "amount")


def test_money_may_require_a_positive_amount():
    class Deposit(serializers.Serializer):
        amount = MoneyField(allow_zero=False)

    errors = errors_of(Deposit, {"amount": {"amount": "0", "currency": "USD"}})
    assert "greater than zero" in first_message(errors, "amount", "amount")


# --- DecimalStringField / FractionField / QuantityField ------------------------------------


def test_a_fraction_reads_back_without_trailing_zeros():
    assert FractionField().to_representation(Decimal("0.600000")) == "0.6"
    assert FractionField().to_representation(Decimal("1.000000")) == "1"
    assert DecimalStringField(output_places=4).to_representation(Decimal("1.23456")) == "1.2346"


def test_decimal_to_str_never_uses_exponent_notation():
    assert decimal_to_str(Decimal("1E+3")) == "1000"
    assert decimal_to_str(Decimal("0.0000001")) == "0.0000001"
    assert decimal_to_str(Decimal("-0.000")) == "0"


def test_a_fraction_accepts_a_string_and_keeps_it_exact():
    s = WeightInput(data={"weight": "0.333333"})
    assert s.is_valid(), s.errors
    assert s.validated_data["weight"] == Decimal("0.333333")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "at most 1"),
        ("-0.1", "cannot be negative"),
        ("0.1234567", "at most 6 decimal places"),
        (0.6, "JSON floats lose precision"),
        ("NaN", "not a valid fraction"),
        ("6e-1", "exponent"),
        ({"v": 1}, "decimal string"),
    ],
)
def test_a_fraction_refuses_bad_values(value, message):
    assert message in first_message(errors_of(WeightInput, {"weight": value}), "weight")


def test_a_quantity_accepts_nine_places():
    s = QuantityInput(data={"quantity": "0.123456789"})
    assert s.is_valid(), s.errors
    assert s.validated_data["quantity"] == Decimal("0.123456789")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "greater than zero"),
        ("-3", "greater than zero"),
        ("0.1234567891", "at most 9 decimal places"),
        ("1e9", "exponent"),
        ("Infinity", "not a valid quantity"),
        ("10000000000", "at most 1000000000"),
        (1.5, "JSON floats"),
    ],
)
def test_a_quantity_refuses_bad_values(value, message):
    assert message in first_message(errors_of(QuantityInput, {"quantity": value}), "quantity")


def test_a_price_field_has_its_own_places_and_bounds():
    assert "at most 4 decimal places" in first_message(errors_of(PriceInput, {"close": "1.00001"}), "close")
    assert "greater than zero" in first_message(errors_of(PriceInput, {"close": "0"}), "close")
    s = PriceInput(data={"close": 187})
    assert s.is_valid() and s.validated_data["close"] == Decimal("187")


# --- InputSerializer and the documented patterns ----------------------------------------------


class SettingsInput(InputSerializer):
    name = serializers.CharField(max_length=20, required=False)
    active = serializers.BooleanField(required=False)
    count = serializers.IntegerField(required=False)
    weight = FractionField(required=False)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"active": 1}, "active", "Must be true or false."),
        ({"active": "yes"}, "active", "Must be true or false."),
        ({"name": 12}, "name", "Must be a string."),
        ({"count": "12"}, "count", "Must be a whole number (a JSON integer)."),
        ({"count": 12.0}, "count", "Must be a whole number (a JSON integer)."),
        ({"weight": "-0"}, "weight", 'Write the fraction as plain digits without a sign or spaces, e.g. "12.34".'),
        ({"weight": " 0.5"}, "weight", 'Write the fraction as plain digits without a sign or spaces, e.g. "12.34".'),
        ({"surprise": True}, "non_field_errors", "Unknown field(s): surprise."),
    ],
)
def test_an_input_takes_only_the_json_types_and_keys_it_documents(data, field, message):
    assert first_message(errors_of(SettingsInput, data), field) == message


def test_an_input_reports_every_field_error_at_once():
    errors = errors_of(SettingsInput, {"active": 0, "name": "x" * 21, "other": 1})
    assert set(errors) == {"active", "name", "non_field_errors"}


def test_an_input_takes_what_it_documents():
    s = SettingsInput(data={"name": "Core", "active": False, "count": 3, "weight": 1})
    assert s.is_valid(), s.errors
    assert s.validated_data == {"name": "Core", "active": False, "count": 3, "weight": Decimal(1)}


FIELDS = [
    QuantityField(),
    FractionField(),
    FractionField(min_value=0, min_exclusive=True),
    FractionField(max_value=Decimal("0.999999")),
    DecimalStringField(max_places=4, min_value=0, min_exclusive=True, max_value="100000"),
    DecimalStringField(max_places=0, min_value=0, max_value="1000"),
]
DECIMAL_LIKE = st.one_of(
    st.from_regex(r"\A[+\- ]?[0-9]{0,14}(\.[0-9]{0,11})?[ ]?\Z"),
    st.text(alphabet="0123456789.+-e, ", max_size=16),
)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.min_exclusive}-{f.max_places}-{f.max_value}")
@settings(max_examples=400, deadline=None)
@given(text=DECIMAL_LIKE)
def test_a_decimal_field_takes_exactly_the_strings_its_documented_pattern_matches(field, text):
    pattern = field.schema_pattern()
    try:
        field.to_internal_value(text)
        accepted = True
    except serializers.ValidationError:
        accepted = False
    assert accepted == bool(re.fullmatch(pattern, text)), (text, pattern)


def test_a_decimal_pattern_refuses_bounds_it_cannot_state():
    with pytest.raises(ValueError):
        decimal_pattern(max_places=2, min_value=Decimal("-5"), min_exclusive=False, max_value=Decimal(10))
    with pytest.raises(ValueError):
        decimal_pattern(max_places=2, min_value=Decimal(0), min_exclusive=False, max_value=Decimal(250))
    assert DecimalStringField(min_value=Decimal("-5")).schema_pattern() is None
