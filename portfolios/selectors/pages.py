"""Reads for the portfolios pages and API, built on the other selectors.

Built only on the selectors (scoped account lists, holdings, engine snapshots,
valuations) and the pure engines, so every read here keeps a fixed query count:
- `book_for_user` — the advisor's book with each account's kept value and max drift (1 query);
- `book_page_for_user` — one page of it, sorted, paged and counted by the database (1 query);
- `drift_reports` — drift with the rebalance decision for many accounts at once (7 queries);
- `account_overview` — everything the account page shows (about a dozen queries);
- `performance_between` — the time-weighted return over a period with the benchmark's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, When, Window
from django.db.models.functions import Collate, Lower

from accounts.models import User
from kronos.db import LARGEST_OFFSET, CompiledRead, page_number
from portfolios.engine import rebalancing
from portfolios.models import InvestmentAccount
from portfolios.selectors.accounts import account_rows_for_user, scope_shape, scope_stand_in
from portfolios.selectors.figures import account_figures, figure_inputs
from portfolios.selectors.holdings import AccountHoldings, account_positions
from portfolios.selectors.performance import (
    Performance,
    _price_window,
    benchmark_for_account,
    benchmark_series,
    performance_periods,
)
from portfolios.selectors.snapshots import engine_snapshots

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
class BookRow:
    pk: int
    household: str
    name: str
    total_value: Decimal
    max_drift: Decimal | None  # None without a model
    breached: bool
    household_id: int = 0
    account_type: str = ""
    number: str = ""
    currency: str = "USD"
    model: str | None = None  # the model's name


# A book line's columns: the account, its household, its kept figures and what the line shows.
_BOOK_COLUMNS = (
    "pk",
    "household__name",
    "name",
    "figures__market_value",
    "figures__cash",
    "figures__max_drift",
    "figures__breached",
    "household_id",
    "account_type",
    "custodian_account_number",
    "base_currency",
    "model__name",
)


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
    operations: the firm) with value and max drift, filtered and sorted: one query reading each
    account's kept `AccountFigures` row with what a line of the page shows; an account without a
    row yet is computed (`account_figures`, after one more query for its inputs). Sorting,
    filtering and the breach count need every row's figures."""
    light = (
        account_rows_for_user(user=user, search=search, model_id=model_id)
        .exclude(status=InvestmentAccount.Status.CLOSED)
        .order_by()  # sorted below, by the figures
        .values_list(*_BOOK_COLUMNS)
    )
    rows: list[BookRow] = []
    missing: dict[int, tuple[Any, ...]] = {}
    for pk, household, name, market_value, cash, drift, breached, *line in light:
        if market_value is None:  # no kept row yet: computed below
            missing[pk] = (household, name, *line)
        else:
            rows.append(BookRow(pk, household, name, market_value + cash, drift, breached, *line))  # type: ignore[arg-type]
    if missing:
        for pk, f in account_figures(figure_inputs(list(missing))).items():
            household, name, *line = missing[pk]
            rows.append(BookRow(pk, household, name, f.total_value, f.max_drift, f.breached, *line))  # type: ignore[arg-type]
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
        rows = with_drift + sorted((r for r in rows if r.max_drift is None), key=lambda r: r.pk, reverse=descending)
    else:
        rows.sort(key=lambda r: (r.household.lower(), r.name.lower(), r.pk))
        if descending:
            rows.reverse()
    return rows


@dataclass(frozen=True, slots=True)
class BookPage:
    """One page of the book: its rows, the page's number (1-based, within range) and the counts
    over every row the filters keep."""

    rows: list[BookRow]
    number: int
    total: int
    breached: int


def _lowered(field_name: str) -> Any:
    """lower(field) in code-point order, as Python's str.lower() sorts: the "C" collation on
    PostgreSQL (its default collation would ignore spaces and punctuation); SQLite's default
    (binary) already is."""
    lowered = Lower(field_name)
    return Collate(lowered, "C") if connection.vendor == "postgresql" else lowered


def _book_rows(
    user: User,
    search: str,
    model_id: int | None,
    breached_only: bool,
    sort: str,
    descending: bool,
    start: int,
    size: int,
) -> QuerySet[InvestmentAccount, tuple[Any, ...]]:
    rows = (
        account_rows_for_user(user=user, search=search, model_id=model_id)
        .exclude(status=InvestmentAccount.Status.CLOSED)
        .annotate(
            book_total=Window(Count("pk")),
            book_breached=Window(
                Sum(Case(When(figures__breached=True, then=1), default=0, output_field=IntegerField()))
            ),
            book_missing=Window(
                Sum(Case(When(figures__market_value__isnull=True, then=1), default=0, output_field=IntegerField()))
            ),
        )
    )
    if breached_only:  # and the accounts without figures, which may be (they send it to the fallback)
        rows = rows.filter(Q(figures__breached=True) | Q(figures__market_value__isnull=True))
    rows = rows.order_by(*_book_order(sort, descending))
    return rows.values_list(*_BOOK_COLUMNS, "book_total", "book_breached", "book_missing")[start : start + size]


#: A book page without a search, its SQL built once per scope shape, filters, sort and slice.
_BOOK_ROWS = CompiledRead(
    lambda shape, user_id, firm_id, model_id: _book_rows(
        scope_stand_in(shape[0], user_id, firm_id), "", model_id if shape[1] else None, *shape[2:]
    ),
    int,
    int,
    int,
)


def book_page_for_user(
    *,
    user: User,
    page: int | str | None = 1,
    size: int = 50,
    search: str = "",
    model_id: int | None = None,
    breached_only: bool = False,
    sort: str = "household",
    descending: bool = False,
) -> BookPage:
    """One page of `book_for_user` (the same rows in the same order), read in one query: the
    database sorts the kept figures, cuts the page and counts every row and every breach with
    window aggregates, so a page costs its 50 rows whatever the book's size. When an account of
    the book has no kept figures yet, or the page asked for is past the last, it falls back to
    reading the whole book (`book_for_user`) and cutting the page in Python."""
    number = page_number(page)
    start = (number - 1) * size
    shape = scope_shape(user)
    if start > LARGEST_OFFSET:  # no database reads that far: past the last page
        got = []
    elif search or shape is None:
        got = list(_book_rows(user, search, model_id, breached_only, sort, descending, start, size))
    else:
        sort = sort if sort in ("value", "drift") else "household"
        got = _BOOK_ROWS.rows(
            user.pk,
            user.firm_id or 0,
            model_id or 0,
            shape=(shape, model_id is not None, breached_only, sort, descending, start, size),
        )
    if got and not got[0][-1]:
        return BookPage(
            rows=[
                BookRow(pk, household, name, market_value + cash, drift, breached, *line)  # type: ignore[arg-type]
                for pk, household, name, market_value, cash, drift, breached, *line, _t, _b, _m in got
            ],
            number=number,
            total=got[0][-3],
            breached=got[0][-2] or 0,
        )
    if not got and number == 1:
        return BookPage(rows=[], number=1, total=0, breached=0)
    # An account without kept figures (computed here) or a page past the last (the last instead).
    everything = book_for_user(
        user=user, search=search, model_id=model_id, breached_only=breached_only, sort=sort, descending=descending
    )
    last = max(1, -(-len(everything) // size))
    number = min(number, last)
    return BookPage(
        rows=everything[(number - 1) * size : number * size],
        number=number,
        total=len(everything),
        breached=sum(1 for r in everything if r.breached),
    )


def _book_order(sort: str, descending: bool) -> list[Any]:
    """The database's ORDER BY for `book_for_user`'s sorts (the same order, ties by pk)."""
    if sort == "value":
        value = F("figures__market_value") + F("figures__cash")
        return [value.desc(), F("pk").desc()] if descending else [value.asc(), F("pk").asc()]
    if sort == "drift":
        # Accounts without a model (no drift) below every drift, whichever the direction.
        drift = F("figures__max_drift")
        if descending:
            return [drift.desc(nulls_last=True), F("pk").desc()]
        return [drift.asc(nulls_last=True), F("pk").asc()]
    keys = [_lowered("household__name"), _lowered("name"), F("pk")]
    return [k.desc() for k in keys] if descending else [k.asc() for k in keys]


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
