"""Each account's value, cash, max drift and breach, computed from the records in one statement
(four queries on databases other than PostgreSQL) for any number of accounts: what
`portfolios.figures` keeps in `AccountFigures` rows (refreshed with every ledger entry, so in
every fill), and what a page computes for an account that has no row yet."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import Model, OuterRef, Subquery
from django.utils import timezone

from portfolios.engine import rebalancing
from portfolios.engine.substitutes import stand_in
from portfolios.models import CashBalance, InvestmentAccount, ModelTarget, Position, Price, Security, SubstitutionPair
from portfolios.selectors.tax import model_targets_and_substitutes

ZERO = Decimal(0)


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
class ComputedFigures:
    total_value: Decimal  # securities at their last close on or before as_of, plus base-currency cash; unrounded
    max_drift: Decimal | None  # None without a model
    breached: bool
    cash: Decimal = ZERO  # base-currency cash

    @property
    def market_value(self) -> Decimal:
        return self.total_value - self.cash


def account_figures(accounts: Sequence[FigureInput], *, as_of: date | None = None) -> dict[int, ComputedFigures]:
    """Value, max drift and breach of many accounts, whatever their number: on PostgreSQL in one
    statement, elsewhere in four queries.

    Reads only what drift needs (positions, base-currency cash, model targets, each
    security's last close on or before `as_of`) and runs the pure engine's
    `calculate_drift` on them -- the same snapshot `engine_snapshots` builds, without the
    lots and wash-sale reads that only trade generation uses. Measured at 500 accounts:
    about a third of `drift_reports`' time, so the book can afford it on every request
    and never serves a stale drift. A fill refreshes its account's figures with it, so one
    round trip rather than four is most of what it saves there.
    """
    if not accounts:
        return {}
    as_of = as_of or timezone.localdate()
    ids = [a.pk for a in accounts]
    model_ids = sorted({a.model_id for a in accounts if a.model_id is not None})
    read = _records_pg if connection.vendor == "postgresql" else _records_orm
    records = read(ids, model_ids, as_of)
    positions, targets, pairs, securities = records.positions, records.targets, records.pairs, records.securities
    currency = {a.pk: a.base_currency for a in accounts}
    cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for account_id, cur, amount in records.cash:
        if currency[account_id] == cur:
            cash[account_id] += amount
    out: dict[int, ComputedFigures] = {}
    for a in accounts:
        held = positions.get(a.pk, {})
        if a.model_id is None:
            value = sum((q * securities[sid][1] for sid, q in held.items()), cash[a.pk])
            out[a.pk] = ComputedFigures(value, None, False, cash[a.pk])
            continue
        wanted = targets.get(a.model_id, {})
        shares: dict[int, Decimal] = {}
        if a.model_id in pairs:  # a held substitute stands in for its security (engine.substitutes)
            values = {sid: q * securities[sid][1] for sid, q in held.items()}
            wanted, shares = stand_in(wanted, values, pairs[a.model_id])
        holdings = tuple(
            rebalancing.Holding(
                securities[sid][0],
                held.get(sid, ZERO),
                securities[sid][1],
                wanted.get(sid, ZERO),
                band_share=shares.get(sid, rebalancing.ONE),
            )
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
        out[a.pk] = ComputedFigures(report.total_value, report.max_drift, report.breached, cash[a.pk])
    return out


@dataclass(slots=True)
class _Records:
    """What `account_figures` reads: positions (account -> security -> quantity, none zero),
    cash rows (account, currency, amount), the models' targets and substitution pairs (as
    `model_targets_and_substitutes` gives them) and each security's symbol and last close (0
    without one), for the securities held or targeted."""

    positions: dict[int, dict[int, Decimal]]
    cash: list[tuple[int, str, Decimal]]
    targets: dict[int, dict[int, Decimal]]
    pairs: dict[int, dict[int, int]]
    securities: dict[int, tuple[str, Decimal]]


def _records_orm(ids: list[int], model_ids: list[int], as_of: date) -> _Records:
    """`_Records` in four queries (the databases other than PostgreSQL)."""
    positions: dict[int, dict[int, Decimal]] = defaultdict(dict)
    security_ids: set[int] = set()
    for account_id, security_id, quantity in (
        Position.objects.filter(account_id__in=ids)
        .exclude(quantity=0)
        .values_list("account_id", "security_id", "quantity")
    ):
        positions[account_id][security_id] = quantity
        security_ids.add(security_id)
    cash = list(CashBalance.objects.filter(account_id__in=ids).values_list("account_id", "currency", "amount"))
    targets, pairs = model_targets_and_substitutes(model_ids=model_ids)
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
    return _Records(positions, cash, targets, pairs, securities)


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def _records_sql() -> str:
    """`_Records` as one PostgreSQL statement: a row a position (p), cash balance (c), target
    (t), substitution pair (s) and security with its last close (x) -- the same filters as
    `_records_orm`'s four queries (a security's close by one index step back on its (security,
    date) key)."""
    position, cash, target = _table(Position), _table(CashBalance), _table(ModelTarget)
    pair, security, price = _table(SubstitutionPair), _table(Security), _table(Price)
    return f"""
        WITH held AS (
            SELECT account_id, security_id, quantity FROM {position}
            WHERE account_id = ANY(%(ids)s) AND quantity <> 0
        ), wanted AS (
            SELECT model_id, security_id, weight FROM {target} WHERE model_id = ANY(%(models)s)
        )
        SELECT 'p', account_id, security_id, NULL::bigint, quantity, NULL::text FROM held
        UNION ALL
        SELECT 'c', account_id, NULL, NULL, amount, currency FROM {cash} WHERE account_id = ANY(%(ids)s)
        UNION ALL
        SELECT 't', model_id, security_id, NULL, weight, NULL FROM wanted
        UNION ALL
        SELECT 's', model_id, security_id, substitute_id, NULL, NULL FROM {pair} WHERE model_id = ANY(%(models)s)
        UNION ALL
        SELECT 'x', s.id, NULL, NULL, (
            SELECT pr.close FROM {price} pr WHERE pr.security_id = s.id AND pr.date <= %(as_of)s
            ORDER BY pr.date DESC LIMIT 1
        ), s.symbol
        FROM {security} s WHERE s.id IN (SELECT security_id FROM held UNION SELECT security_id FROM wanted)
    """  # noqa: S608  # nosec B608 -- table names from the models' _meta; values are parameters


def _records_pg(ids: list[int], model_ids: list[int], as_of: date) -> _Records:
    """`_Records` in one statement (PostgreSQL)."""
    records = _Records(defaultdict(dict), [], defaultdict(dict), defaultdict(dict), {})
    with connection.cursor() as cursor:
        cursor.execute(_records_sql(), {"ids": ids, "models": model_ids, "as_of": as_of})
        for kind, first, second, third, number, text in cursor.fetchall():
            if kind == "p":
                records.positions[first][second] = number
            elif kind == "c":
                records.cash.append((first, text, number))
            elif kind == "t":
                records.targets[first][second] = number
            elif kind == "s":
                records.pairs[first][second] = third
            else:
                records.securities[first] = (text, number if number is not None else ZERO)
    records.targets, records.pairs = dict(records.targets), dict(records.pairs)
    return records


def figure_inputs(account_ids: Sequence[int]) -> list[FigureInput]:
    """The accounts' `FigureInput`s read by id (one query)."""
    return [
        FigureInput(*row)
        for row in InvestmentAccount.objects.filter(pk__in=account_ids)
        .order_by()
        .values_list(
            "pk", "base_currency", "model_id", "model__cash_target", "drift_threshold", "band_mode", "relative_band"
        )
    ]


def kept_figures(accounts: Sequence[InvestmentAccount]) -> dict[int, ComputedFigures]:
    """The figures of accounts read with their `figures` row joined (`account_rows_for_user`):
    the kept rows, and for an account without one (not yet refreshed) computed from the records
    (one more query, for their inputs)."""
    out: dict[int, ComputedFigures] = {}
    missing: list[int] = []
    for account in accounts:
        try:
            row = account.figures  # type: ignore[attr-defined]
        except ObjectDoesNotExist:
            missing.append(account.pk)
            continue
        out[account.pk] = ComputedFigures(row.market_value + row.cash, row.max_drift, row.breached, row.cash)
    if missing:
        out.update(account_figures(figure_inputs(missing)))
    return out
