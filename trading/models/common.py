"""What the trading models share: the order side, decimal fields, and the JSON field the
proposals bulk-insert through."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

ZERO = Decimal(0)


def price_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=20, decimal_places=6, **kwargs)


def drift_field(**kwargs) -> models.DecimalField:  # type: ignore[no-untyped-def]
    return models.DecimalField(max_digits=9, decimal_places=6, **kwargs)


class SnapshotJSONField(models.JSONField):
    """A JSONField that bulk inserts as VALUES with one binary jsonb parameter per row.

    Django's PostgreSQL bulk insert otherwise packs every column into a text array for
    UNNEST, and quoting large JSON documents into an array literal (and PostgreSQL parsing
    it back) was most of the cost of writing a chunk of proposals. A field with its own
    placeholder opts its model out of UNNEST; nothing else changes."""

    def get_placeholder(self, value, compiler, connection) -> str:  # type: ignore[no-untyped-def]
        return "%s"

    def deconstruct(self):  # type: ignore[no-untyped-def]
        # The migrations name it by its public path (the package re-exports it), not this module.
        name, _path, args, kwargs = super().deconstruct()
        return name, "trading.models.SnapshotJSONField", args, kwargs


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"
