"""Shared by the portfolios selectors."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField

CENT = Decimal("0.01")
WASH_SALE_DAYS = 30
_MONEY = DecimalField(max_digits=30, decimal_places=9)
