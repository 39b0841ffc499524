"""Reads of performance: an account's time-weighted return from its valuations, a benchmark's."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch, Sum
from django.utils import timezone

from portfolios.engine import performance
from portfolios.models import (
    ONE,
    ZERO,
    Benchmark,
    BenchmarkComponent,
    HouseholdBenchmark,
    InvestmentAccount,
    JournalEntry,
    ModelPortfolio,
    Posting,
    Price,
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
    """Returns over one period: time-weighted net of fees (`twr`, fees are not flows, so they
    weigh on the return) and gross (`twr_gross`, fees added back as withdrawals), money-weighted
    (`mwr`, the XIRR de-annualised to the period, net of fees), each annualised only over a year;
    and the benchmark's price return (a blend rebalanced monthly)."""

    label: str
    start: date
    end: date
    twr: Decimal | None  # None when there is no valuation to start from
    annualized_twr: Decimal | None
    benchmark_twr: Decimal | None
    series: tuple[tuple[date, Decimal, Decimal], ...] = ()  # (date, value, cumulative twr)
    twr_gross: Decimal | None = None
    annualized_twr_gross: Decimal | None = None
    mwr: Decimal | None = None
    annualized_mwr: Decimal | None = None

    @property
    def twr_net(self) -> Decimal | None:
        return self.twr


@dataclass(frozen=True, slots=True)
class BenchmarkSpec:
    """A benchmark as the performance reads it: its description and its weights by symbol."""

    description: str
    weights: dict[str, Decimal]


def _spec(benchmark: Benchmark | None) -> BenchmarkSpec:
    if benchmark is None or not benchmark.components.all():
        symbol = benchmark_symbol()
        return BenchmarkSpec(symbol, {symbol: ONE})
    weights = {c.security.symbol: c.weight for c in benchmark.components.all()}
    total = sum(weights.values(), ZERO)
    if total != ONE:  # edited by hand to weights not summing to 1: read in proportion to them
        weights = {s: w / total for s, w in weights.items()}
        weights[next(iter(weights))] += ONE - sum(weights.values(), ZERO)  # exactly 1 despite the division
    return BenchmarkSpec(performance.describe_blend(weights), weights)


_BENCHMARK_PREFETCH = Prefetch(
    "components", queryset=BenchmarkComponent.objects.select_related("security").order_by("-weight")
)


def benchmark_for_account(account: InvestmentAccount) -> BenchmarkSpec:
    """The account's own benchmark, else its household's, else its model's, else the firm-wide one."""
    chosen_id = (
        account.benchmark_id
        or HouseholdBenchmark.objects.filter(household_id=account.household_id)
        .values_list("benchmark_id", flat=True)
        .first()
        or (
            ModelPortfolio.objects.filter(pk=account.model_id).values_list("benchmark_id", flat=True).first()
            if account.model_id
            else None
        )
    )
    if chosen_id is None:
        return _spec(None)
    return _spec(Benchmark.objects.prefetch_related(_BENCHMARK_PREFETCH).filter(pk=chosen_id).first())


def benchmark_for_household(household_id: int, accounts: Sequence[InvestmentAccount]) -> BenchmarkSpec:
    """The household's chosen benchmark, else the one benchmark all its accounts' models share,
    else the firm-wide one."""
    chosen_id = HouseholdBenchmark.objects.filter(household_id=household_id).values_list("benchmark_id", flat=True)
    chosen = chosen_id.first()
    if chosen is None:
        model_ids = {a.model_id for a in accounts if a.model_id}
        shared = set(ModelPortfolio.objects.filter(pk__in=model_ids).values_list("benchmark_id", flat=True))
        if len(shared) == 1 and None not in shared and all(a.model_id for a in accounts):
            chosen = shared.pop()
    if chosen is None:
        return _spec(None)
    return _spec(Benchmark.objects.prefetch_related(_BENCHMARK_PREFETCH).filter(pk=chosen).first())


def benchmark_series(spec: BenchmarkSpec, start: date, end: date) -> list[tuple[date, Decimal]]:
    """The benchmark's closes (one security) or its monthly-rebalanced blend as an index, from ten
    days before `start` (room for the base close) to `end`, in one query."""
    rows = (
        Price.objects.filter(
            security__symbol__in=list(spec.weights), date__gte=start - timedelta(days=10), date__lte=end
        )
        .order_by("date")
        .values_list("security__symbol", "date", "close")
    )
    closes: dict[str, list[tuple[date, Decimal]]] = {symbol: [] for symbol in spec.weights}
    for symbol, day, close in rows:
        closes[symbol].append((day, close))
    if len(spec.weights) == 1:
        return next(iter(closes.values()))
    return performance.blended_index(closes, spec.weights)


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
    fees: Mapping[date, Decimal] | None = None,
) -> Performance:
    window = _window(points, start, end)
    bench_window = _price_window(prices, start, end)
    benchmark_twr = performance.benchmark_return(bench_window) if len(bench_window) >= 2 else None
    if len(window) < 2:
        return Performance(label, start, end, None, None, benchmark_twr)
    report = performance.report(window)
    gross = performance.report(performance.gross_of_fees(window, fees or {}))
    mwr, annualized_mwr = performance.money_weighted_return(window)
    series = (
        (window[0].date, window[0].value, ZERO),
        *((point.date, point.value, daily.cumulative) for point, daily in zip(window[1:], report.series, strict=True)),
    )
    return Performance(
        label,
        start,
        end,
        report.period_return,
        report.annualised_return,
        benchmark_twr,
        series,
        twr_gross=gross.period_return,
        annualized_twr_gross=gross.annualised_return,
        mwr=mwr,
        annualized_mwr=annualized_mwr,
    )


def _valuation_points_many(
    account_ids: Sequence[int], start: date, end: date
) -> dict[int, list[performance.ValuePoint]]:
    rows = (
        ValuationSnapshot.objects.filter(account_id__in=account_ids, date__lte=end)
        .filter(date__gte=start - timedelta(days=10))  # room for the base point before a weekend or holiday
        .order_by("account_id", "date")
        .values_list("account_id", "date", "market_value", "cash", "net_external_flow")
    )
    out: dict[int, list[performance.ValuePoint]] = {pk: [] for pk in account_ids}
    for account_id, d, mv, cash, flow in rows:
        out[account_id].append(performance.ValuePoint(date=d, value=mv + cash, flow=flow))
    return out


def _valuation_points(account: InvestmentAccount, start: date, end: date) -> list[performance.ValuePoint]:
    return _valuation_points_many([account.pk], start, end)[account.pk]


def fees_by_day(account_ids: Sequence[int], start: date, end: date) -> dict[date, Decimal]:
    """Advisory fees debited from the accounts' cash (positive amounts) by effective date, one query."""
    out: dict[date, Decimal] = {}
    for day, quantity in (
        Posting.objects.filter(
            book__account_id__in=account_ids,
            security__isnull=True,
            entry__kind=JournalEntry.Kind.FEE,
            entry__effective_date__gte=start - timedelta(days=10),
            entry__effective_date__lte=end,
        )
        .values_list("entry__effective_date")
        .annotate(q=Sum("quantity"))
        .order_by("entry__effective_date")
    ):
        if quantity:
            out[day] = -quantity
    return out


def performance_between(
    account: InvestmentAccount, *, start: date, end: date, benchmark: BenchmarkSpec | None = None
) -> Performance:
    """The account's returns over [start, end] (base: its last valuation on or before `start`) and
    its benchmark's."""
    spec = benchmark or benchmark_for_account(account)
    return _performance(
        "custom",
        _valuation_points(account, start, end),
        benchmark_series(spec, start, end),
        start,
        end,
        fees_by_day([account.pk], start, end),
    )


PERIODS = ("1M", "3M", "YTD", "1Y", "Since inception")


def _periods(
    points: Sequence[performance.ValuePoint],
    prices: Sequence[tuple[date, Decimal]],
    fees: Mapping[date, Decimal],
    inception: date,
    today: date,
) -> list[Performance]:
    starts = [
        ("1M", months_before(today, 1)),
        ("3M", months_before(today, 3)),
        ("YTD", date(today.year, 1, 1) - timedelta(days=1)),  # base: last year's final close
        ("1Y", months_before(today, 12)),
        ("Since inception", inception),
    ]
    return [_performance(label, points, prices, max(start, inception), today, fees) for label, start in starts]


def performance_periods(
    account: InvestmentAccount, *, today: date | None = None, benchmark: BenchmarkSpec | None = None
) -> list[Performance]:
    """1M, 3M, YTD, 1Y and since inception, from one read of valuations, one of fees and one of
    benchmark closes."""
    today = today or timezone.localdate()
    inception = account.opened_on
    points = _valuation_points(account, inception, today)
    if points:
        inception = min(inception, points[0].date)
    spec = benchmark or benchmark_for_account(account)
    prices = benchmark_series(spec, inception, today)
    return _periods(points, prices, fees_by_day([account.pk], inception, today), inception, today)


# --- Households ----------------------------------------------------------------------------------


def household_points(accounts: Sequence[InvestmentAccount], start: date, end: date) -> list[performance.ValuePoint]:
    """The household's summed values and flows over its accounts (one query)."""
    by_account = _valuation_points_many([a.pk for a in accounts], start, end)
    return performance.combine(by_account.values())


def household_performance_between(
    household_id: int, accounts: Sequence[InvestmentAccount], *, start: date, end: date
) -> tuple[Performance, BenchmarkSpec]:
    """The household's returns over [start, end]: the TWR of its accounts' summed values and flows
    (the value-weighted linking of their daily returns), MWR and gross of fees likewise."""
    spec = benchmark_for_household(household_id, accounts)
    ids = [a.pk for a in accounts]
    result = _performance(
        "custom",
        household_points(accounts, start, end),
        benchmark_series(spec, start, end),
        start,
        end,
        fees_by_day(ids, start, end),
    )
    return result, spec


def household_performance_periods(
    household_id: int, accounts: Sequence[InvestmentAccount], *, today: date | None = None
) -> tuple[list[Performance], BenchmarkSpec]:
    """1M, 3M, YTD, 1Y and since inception (the first account's opening) for the household."""
    today = today or timezone.localdate()
    spec = benchmark_for_household(household_id, accounts)
    if not accounts:
        return [Performance(label, today, today, None, None, None) for label in PERIODS], spec
    inception = min(a.opened_on for a in accounts)
    points = household_points(accounts, inception, today)
    if points:
        inception = min(inception, points[0].date)
    prices = benchmark_series(spec, inception, today)
    return _periods(points, prices, fees_by_day([a.pk for a in accounts], inception, today), inception, today), spec
