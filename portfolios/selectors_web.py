"""Reads for the portfolios pages and API that `portfolios.selectors` does not provide.

Built only on `portfolios.selectors` (scoped account lists, holdings, engine snapshots,
valuations) and the pure engines, so every read here keeps a fixed query count:
- `account_figures` — value, max drift and breach of many accounts at once (4 queries);
- `book_for_user` — the advisor's book with each account's value and max drift (5 queries),
  and `book_accounts` for the rows of one page (1 query);
- `drift_reports` — drift with the rebalance decision for many accounts at once (7 queries);
- `account_overview` — everything the account page shows (about a dozen queries);
- `performance_between` — the time-weighted return over a period with the benchmark's.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import User
from portfolios import engine as rebalancing
from portfolios.engine import performance
from portfolios.models import CashBalance, InvestmentAccount, ModelTarget, Position, Price, Security, ValuationSnapshot
from portfolios.selectors import (
    AccountHoldings,
    account_list_for_user,
    account_positions,
    engine_snapshots,
    price_history,
)

ZERO = Decimal(0)


def account_total(account: InvestmentAccount) -> Decimal:
    """Securities plus cash of an account read through `account_list_for_user` (its `total_value` annotation)."""
    return account.total_value  # type: ignore[attr-defined,no-any-return]


def benchmark_symbol() -> str:
    """The benchmark every account is compared with (settings.PORTFOLIOS_BENCHMARK, default SPY)."""
    return str(getattr(settings, "PORTFOLIOS_BENCHMARK", "SPY")).upper()


# --- Drift ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountDrift:
    report: rebalancing.DriftReport
    decision: rebalancing.Decision
    threshold: Decimal


def drift_reports(accounts: Sequence[InvestmentAccount], *, as_of: date | None = None) -> dict[int, AccountDrift]:
    """Drift and the rebalance decision of each account that has a model (7 queries for any number).

    Accounts without a model are absent: drift against no target means nothing.
    """
    ids = [a.pk for a in accounts if a.model_id]
    if not ids:
        return {}
    snapshots = engine_snapshots(account_ids=ids, as_of=as_of)
    out: dict[int, AccountDrift] = {}
    for account_id, snapshot in snapshots.items():
        report = rebalancing.calculate_drift(snapshot)
        decision = rebalancing.decide(snapshot, report)
        out[account_id] = AccountDrift(report=report, decision=decision, threshold=snapshot.threshold)
    return out


# --- The book ---------------------------------------------------------------------------------

BOOK_SORTS = ("household", "value", "drift")


@dataclass(frozen=True, slots=True)
class FigureInput:
    """What `account_figures` needs of an account besides its holdings."""

    pk: int
    base_currency: str
    model_id: int | None
    cash_target: Decimal | None  # the model's, None without a model
    drift_threshold: Decimal
    band_mode: str
    relative_band: Decimal

    @classmethod
    def of(cls, account: InvestmentAccount) -> FigureInput:
        """From an account read with its model (`account_list_for_user` joins it: no query)."""
        model = account.model
        return cls(
            account.pk,
            account.base_currency,
            account.model_id,
            model.cash_target if model is not None else None,
            account.drift_threshold,
            account.band_mode,
            account.relative_band,
        )


@dataclass(frozen=True, slots=True)
class AccountFigures:
    total_value: Decimal  # securities at their last close on or before as_of, plus base-currency cash; unrounded
    max_drift: Decimal | None  # None without a model
    breached: bool


def account_figures(accounts: Sequence[FigureInput], *, as_of: date | None = None) -> dict[int, AccountFigures]:
    """Value, max drift and breach of many accounts in four queries, whatever their number.

    Reads only what drift needs (positions, base-currency cash, model targets, each
    security's last close on or before `as_of`) and runs the pure engine's
    `calculate_drift` on them -- the same snapshot `engine_snapshots` builds, without the
    lots and wash-sale reads that only trade generation uses. Measured at 500 accounts:
    about a third of `drift_reports`' time, so the book can afford it on every request
    and never serves a stale drift.
    """
    if not accounts:
        return {}
    as_of = as_of or timezone.localdate()
    ids = [a.pk for a in accounts]
    positions: dict[int, dict[int, Decimal]] = defaultdict(dict)
    security_ids: set[int] = set()
    for account_id, security_id, quantity in (
        Position.objects.filter(account_id__in=ids)
        .exclude(quantity=0)
        .values_list("account_id", "security_id", "quantity")
    ):
        positions[account_id][security_id] = quantity
        security_ids.add(security_id)
    currency = {a.pk: a.base_currency for a in accounts}
    cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for account_id, cur, amount in CashBalance.objects.filter(account_id__in=ids).values_list(
        "account_id", "currency", "amount"
    ):
        if currency[account_id] == cur:
            cash[account_id] += amount
    targets: dict[int, dict[int, Decimal]] = defaultdict(dict)
    model_ids = {a.model_id for a in accounts if a.model_id is not None}
    for model_id, security_id, weight in ModelTarget.objects.filter(model_id__in=model_ids).values_list(
        "model_id", "security_id", "weight"
    ):
        targets[model_id][security_id] = weight
        security_ids.add(security_id)
    # One index step back on (security, date) per security, as engine_snapshots does.
    last_close = Price.objects.filter(security_id=OuterRef("pk"), date__lte=as_of).order_by("-date").values("close")[:1]
    securities: dict[int, tuple[str, Decimal]] = {
        sid: (symbol, close if close is not None else ZERO)
        for sid, symbol, close in Security.objects.filter(pk__in=security_ids)
        .annotate(close=Subquery(last_close))
        .values_list("pk", "symbol", "close")
    }
    out: dict[int, AccountFigures] = {}
    for a in accounts:
        held = positions.get(a.pk, {})
        if a.model_id is None:
            value = sum((q * securities[sid][1] for sid, q in held.items()), cash[a.pk])
            out[a.pk] = AccountFigures(value, None, False)
            continue
        wanted = targets.get(a.model_id, {})
        holdings = tuple(
            rebalancing.Holding(securities[sid][0], held.get(sid, ZERO), securities[sid][1], wanted.get(sid, ZERO))
            for sid in held.keys() | wanted.keys()
        )
        report = rebalancing.calculate_drift(
            rebalancing.AccountSnapshot(
                account_id=a.pk,
                as_of=as_of,
                currency=a.base_currency,
                cash=cash[a.pk],
                holdings=holdings,
                cash_target=a.cash_target if a.cash_target is not None else ZERO,
                threshold=a.drift_threshold,
                band_mode=rebalancing.BandMode(a.band_mode),
                relative_band=a.relative_band,
            )
        )
        out[a.pk] = AccountFigures(report.total_value, report.max_drift, report.breached)
    return out


@dataclass(frozen=True, slots=True)
class BookRow:
    pk: int
    household: str
    name: str
    total_value: Decimal
    max_drift: Decimal | None  # None without a model
    breached: bool


def book_for_user(
    *,
    user: User,
    search: str = "",
    model_id: int | None = None,
    breached_only: bool = False,
    sort: str = "household",
    descending: bool = False,
) -> list[BookRow]:
    """Every open account of the user's households (advisor: their clients; compliance and
    operations: the firm) with value and max drift, filtered and sorted: five queries for any
    number of accounts (a light list, then `account_figures`). The page's rows are read whole
    with `book_accounts`; sorting, filtering and the breach count need every row's figures."""
    light = (
        account_list_for_user(user=user, search=search, model_id=model_id)
        .exclude(status=InvestmentAccount.Status.CLOSED)
        .values_list(
            "pk",
            "household__name",
            "name",
            "base_currency",
            "model_id",
            "model__cash_target",
            "drift_threshold",
            "band_mode",
            "relative_band",
        )
    )
    names: dict[int, tuple[str, str]] = {}
    inputs = []
    for pk, household, name, currency, model, cash_target, threshold, band_mode, relative_band in light:
        names[pk] = (household, name)
        inputs.append(FigureInput(pk, currency, model, cash_target, threshold, band_mode, relative_band))
    figures = account_figures(inputs)
    rows = [
        BookRow(pk, names[pk][0], names[pk][1], f.total_value, f.max_drift, f.breached)
        for pk, f in ((a.pk, figures[a.pk]) for a in inputs)
    ]
    if breached_only:
        rows = [r for r in rows if r.breached]
    if sort == "value":
        rows.sort(key=lambda r: (r.total_value, r.pk), reverse=descending)
    elif sort == "drift":
        # Accounts without a model sort below every drift, whichever the direction.
        with_drift = sorted(
            (r for r in rows if r.max_drift is not None),
            key=lambda r: (r.max_drift, r.pk),
            reverse=descending,
        )
        rows = with_drift + [r for r in rows if r.max_drift is None]
    else:
        rows.sort(key=lambda r: (r.household.lower(), r.name.lower(), r.pk))
        if descending:
            rows.reverse()
    return rows


def book_accounts(pks: Sequence[int]) -> dict[int, InvestmentAccount]:
    """The accounts of one book page with household and model (one query)."""
    return {a.pk: a for a in InvestmentAccount.objects.filter(pk__in=pks).select_related("household", "model")}


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


# --- The account page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountOverview:
    holdings: AccountHoldings
    drift: AccountDrift | None
    periods: list[Performance]
    benchmark: str
    value_series: tuple[tuple[date, Decimal], ...] = field(default=())  # growth of 100 (time-weighted)
    benchmark_series: tuple[tuple[date, Decimal], ...] = field(default=())  # closes


def account_overview(account: InvestmentAccount, *, today: date | None = None) -> AccountOverview:
    """What the account page shows, in a fixed number of queries whatever the holdings."""
    holdings = account_positions(account)
    drift = drift_reports([account]).get(account.pk)
    periods = performance_periods(account, today=today)
    since_inception = periods[-1]
    value_series = tuple((d, Decimal(100) * (1 + cumulative)) for d, _value, cumulative in since_inception.series)
    benchmark_series: tuple[tuple[date, Decimal], ...] = ()
    if value_series:
        benchmark_series = tuple(
            _price_window(
                _benchmark_prices(value_series[0][0], value_series[-1][0]), value_series[0][0], value_series[-1][0]
            )
        )
    return AccountOverview(
        holdings=holdings,
        drift=drift,
        periods=periods,
        benchmark=benchmark_symbol(),
        value_series=value_series,
        benchmark_series=benchmark_series,
    )
