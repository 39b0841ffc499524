"""The decimal places of the portfolios models, chosen once (see `portfolios.models`), and the
fields and validators built on them."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

PRICE_PLACES = 6
QUANTITY_PLACES = 9
CASH_PLACES = 2
WEIGHT_PLACES = 6

ZERO = Decimal(0)
ONE = Decimal(1)


def validate_positive(value: Decimal) -> None:
    if value is not None and value <= 0:
        raise ValidationError("Must be a positive number.", code="not_positive")


def validate_not_future(value) -> None:  # type: ignore[no-untyped-def]
    if value is not None and value > timezone.localdate():
        raise ValidationError("The date cannot be in the future.", code="future_date")


def weight_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=7, decimal_places=WEIGHT_PLACES, **kwargs)


def cash_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=18, decimal_places=CASH_PLACES, **kwargs)


def quantity_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=28, decimal_places=QUANTITY_PLACES, **kwargs)
