"""Reads of securities and their prices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery

from portfolios.models import (
    Price,
    Security,
)


@dataclass(frozen=True, slots=True)
class LatestPrice:
    security_id: int
    symbol: str
    date: date
    close: Decimal


def latest_prices(securities: Iterable[int | str], as_of: date | None = None) -> dict[int, LatestPrice]:
    """The last close on or before `as_of` (default: any date) of each security, by id or symbol, in ONE query.

    Returns {security_id: LatestPrice}; securities without a close are absent.
    """
    items = list(securities)
    if not items:
        return {}
    ids = [s for s in items if isinstance(s, int)]
    symbols = [s.upper() for s in items if isinstance(s, str)]
    qs = Price.objects.filter(Q(security_id__in=ids) | Q(security__symbol__in=symbols))
    if as_of is not None:
        qs = qs.filter(date__lte=as_of)
    if connection.vendor == "postgresql":
        qs = qs.order_by("security_id", "-date").distinct("security_id")
    else:
        newest = Price.objects.filter(security_id=OuterRef("security_id"))
        if as_of is not None:
            newest = newest.filter(date__lte=as_of)
        qs = qs.filter(date=Subquery(newest.order_by("-date").values("date")[:1]))
    return {
        r["security_id"]: LatestPrice(r["security_id"], r["security__symbol"], r["date"], r["close"])
        for r in qs.values("security_id", "security__symbol", "date", "close")
    }


def price_history(*, security: Security | int, start: date, end: date) -> list[tuple[date, Decimal]]:
    """A security's closes in [start, end], oldest first."""
    return list(
        Price.objects.filter(security=security, date__gte=start, date__lte=end)
        .order_by("date")
        .values_list("date", "close")
    )


def security_list(*, search: str = "", active_only: bool = False) -> QuerySet[Security]:
    qs = Security.objects.all()
    if search:
        qs = qs.filter(Q(symbol__icontains=search) | Q(name__icontains=search))
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.order_by("symbol")
