"""Reads for the portfolios pages and API, built on the other selectors.

Built only on the selectors (scoped account lists, holdings, engine snapshots,
valuations) and the pure engines, so every read here keeps a fixed query count:
- `account_figures` — value, max drift and breach of many accounts at once (4 queries);
- `book_for_user` — the advisor's book with each account's value and max drift (5 queries),
  and `book_accounts` for the rows of one page (1 query);
- `drift_reports` — drift with the rebalance decision for many accounts at once (7 queries);
- `account_overview` — everything the account page shows (about a dozen queries);
- `performance_between` — the time-weighted return over a period with the benchmark's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import User
from portfolios.engine import rebalancing
from portfolios.engine.substitutes import stand_in_targets
from portfolios.models import CashBalance, InvestmentAccount, Position, Price, Security
from portfolios.selectors.accounts import account_list_for_user
from portfolios.selectors.holdings import AccountHoldings, account_positions
from portfolios.selectors.performance import (
    Performance,
    _price_window,
    benchmark_for_account,
    benchmark_series,
    performance_periods,
)
from portfolios.selectors.snapshots import engine_snapshots
from portfolios.selectors.tax import model_targets_and_substitutes

ZERO = Decimal(0)


def account_total(account: InvestmentAccount) -> Decimal:
    """Securities plus cash of an account read through `account_list_for_user` (its `total_value` annotation)."""
    return account.total_value  # type: ignore[attr-defined,no-any-return]


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
    targets, pairs = model_targets_and_substitutes(model_ids={a.model_id for a in accounts if a.model_id is not None})
    for wanted in targets.values():
        security_ids.update(wanted)
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
        if a.model_id in pairs:  # a held substitute stands in for its security (engine.substitutes)
            values = {sid: q * securities[sid][1] for sid, q in held.items()}
            wanted = stand_in_targets(wanted, values, pairs[a.model_id])
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
    spec = benchmark_for_account(account)
    periods = performance_periods(account, today=today, benchmark=spec)
    since_inception = periods[-1]
    value_series = tuple((d, Decimal(100) * (1 + cumulative)) for d, _value, cumulative in since_inception.series)
    benchmark_closes: tuple[tuple[date, Decimal], ...] = ()
    if value_series:
        first, last = value_series[0][0], value_series[-1][0]
        benchmark_closes = tuple(_price_window(benchmark_series(spec, first, last), first, last))
    return AccountOverview(
        holdings=holdings,
        drift=drift,
        periods=periods,
        benchmark=spec.description,
        value_series=value_series,
        benchmark_series=benchmark_closes,
    )
