"""Reads of performance: an account's time-weighted return from its valuations, a benchmark's."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from portfolios.engine import performance
from portfolios.models import (
    ZERO,
    InvestmentAccount,
    Security,
    ValuationSnapshot,
)
from portfolios.selectors.prices import price_history


def benchmark_symbol() -> str:
    """The benchmark every account is compared with (settings.PORTFOLIOS_BENCHMARK, default SPY)."""
    return str(getattr(settings, "PORTFOLIOS_BENCHMARK", "SPY")).upper()


def account_valuation_series(account: InvestmentAccount, start: date, end: date) -> list[ValuationSnapshot]:
    """The account's daily valuations in [start, end], oldest first (one query)."""
    return list(ValuationSnapshot.objects.filter(account=account, date__gte=start, date__lte=end).order_by("date"))


def account_performance(account: InvestmentAccount, start: date, end: date) -> performance.PerformanceReport:
    """The account's time-weighted return over [start, end] from its valuation snapshots."""
    points = [
        performance.ValuePoint(date=v.date, value=v.total_value, flow=v.net_external_flow)
        for v in account_valuation_series(account, start, end)
    ]
    return performance.report(points)


def benchmark_performance(*, symbol: str = "SPY", start: date, end: date) -> performance.PerformanceReport | None:
    """The price return of a benchmark (SPY by default) over [start, end]."""
    security = Security.objects.filter(symbol=symbol.upper()).first()
    if security is None:
        return None
    return performance.report(performance.points_from_prices(price_history(security=security, start=start, end=end)))


# --- Performance ------------------------------------------------------------------------------


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier (the month's last day when it has fewer days)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Performance:
    label: str
    start: date
    end: date
    twr: Decimal | None  # None when there is no valuation to start from
    annualized_twr: Decimal | None
    benchmark_twr: Decimal | None
    series: tuple[tuple[date, Decimal, Decimal], ...] = ()  # (date, value, cumulative twr)


def _window(points: Sequence[performance.ValuePoint], start: date, end: date) -> list[performance.ValuePoint]:
    """The points from the last one on or before `start` (the base) to `end`."""
    base = None
    inside = []
    for p in points:
        if p.date <= start:
            base = p
        elif p.date <= end:
            inside.append(p)
    return ([base] if base else []) + inside


def _price_window(prices: Sequence[tuple[date, Decimal]], start: date, end: date) -> list[tuple[date, Decimal]]:
    base = None
    inside = []
    for d, close in prices:
        if d <= start:
            base = (d, close)
        elif d <= end:
            inside.append((d, close))
    return ([base] if base else []) + inside


def _performance(
    label: str,
    points: Sequence[performance.ValuePoint],
    prices: Sequence[tuple[date, Decimal]],
    start: date,
    end: date,
) -> Performance:
    window = _window(points, start, end)
    bench_window = _price_window(prices, start, end)
    benchmark_twr = performance.benchmark_return(bench_window) if len(bench_window) >= 2 else None
    if len(window) < 2:
        return Performance(label, start, end, None, None, benchmark_twr)
    report = performance.report(window)
    series = (
        (window[0].date, window[0].value, ZERO),
        *((point.date, point.value, daily.cumulative) for point, daily in zip(window[1:], report.series, strict=True)),
    )
    return Performance(label, start, end, report.period_return, report.annualised_return, benchmark_twr, series)


def _valuation_points(account: InvestmentAccount, start: date, end: date) -> list[performance.ValuePoint]:
    rows = (
        ValuationSnapshot.objects.filter(account=account, date__lte=end)
        .filter(date__gte=start - timedelta(days=10))  # room for the base point before a weekend or holiday
        .order_by("date")
        .values_list("date", "market_value", "cash", "net_external_flow")
    )
    return [performance.ValuePoint(date=d, value=mv + cash, flow=flow) for d, mv, cash, flow in rows]


def _benchmark_prices(start: date, end: date) -> list[tuple[date, Decimal]]:
    security = Security.objects.filter(symbol=benchmark_symbol()).only("pk").first()
    if security is None:
        return []
    return price_history(security=security, start=start - timedelta(days=10), end=end)


def performance_between(account: InvestmentAccount, *, start: date, end: date) -> Performance:
    """The account's TWR over [start, end] (base: its last valuation on or before `start`) and the benchmark's."""
    return _performance("custom", _valuation_points(account, start, end), _benchmark_prices(start, end), start, end)


def performance_periods(account: InvestmentAccount, *, today: date | None = None) -> list[Performance]:
    """1M, 3M, YTD, 1Y and since inception, from one read of valuations and one of benchmark closes."""
    today = today or timezone.localdate()
    inception = account.opened_on
    points = _valuation_points(account, inception, today)
    if points:
        inception = min(inception, points[0].date)
    prices = _benchmark_prices(inception, today)
    periods = [
        ("1M", months_before(today, 1)),
        ("3M", months_before(today, 3)),
        ("YTD", date(today.year, 1, 1) - timedelta(days=1)),  # base: last year's final close
        ("1Y", months_before(today, 12)),
        ("Since inception", inception),
    ]
    return [_performance(label, points, prices, max(start, inception), today) for label, start in periods]
