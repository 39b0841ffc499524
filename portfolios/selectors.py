"""Reads of securities, prices, accounts and their holdings, with fixed query counts.

Accounts are always reached through the user's households (`household_scope_q`), so
another user's account is a 404.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import connection
from django.db.models import DecimalField, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from accounts.selectors import household_scope_q, household_search_q
from portfolios import engine as rebalancing
from portfolios.models import (
    ZERO,
    CashBalance,
    InvestmentAccount,
    LotClosure,
    ModelPortfolio,
    ModelTarget,
    Position,
    Price,
    Security,
    TaxLot,
    ValuationSnapshot,
)

CENT = Decimal("0.01")
WASH_SALE_DAYS = 30
_MONEY = DecimalField(max_digits=30, decimal_places=9)


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


def model_portfolio_list(*, firm_id: int, active_only: bool = True) -> QuerySet[ModelPortfolio]:
    """A firm's models with their targets and securities (two queries)."""
    qs = ModelPortfolio.objects.filter(firm_id=firm_id)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.prefetch_related(_targets_prefetch()).order_by("risk_level", "name")


def _targets_prefetch():  # type: ignore[no-untyped-def]
    from django.db.models import Prefetch

    return Prefetch("targets", queryset=ModelTarget.objects.select_related("security").order_by("-weight"))


def model_portfolio_list_for_user(*, user: User, active_only: bool = True) -> QuerySet[ModelPortfolio]:
    """The models of the user's firm (superusers: every firm's)."""
    if user.is_superuser:
        qs = ModelPortfolio.objects.all()
        if active_only:
            qs = qs.filter(is_active=True)
        return qs.prefetch_related(_targets_prefetch()).order_by("risk_level", "name")
    firm_id = user.firm_id or getattr(getattr(user, "advisor", None), "firm_id", None)
    if not firm_id:
        return ModelPortfolio.objects.none()
    return model_portfolio_list(firm_id=firm_id, active_only=active_only)


# --- Accounts -------------------------------------------------------------------------------


def _market_value_subquery(as_of: date | None) -> Subquery:
    price = Price.objects.filter(security_id=OuterRef("security_id"))
    if as_of is not None:
        price = price.filter(date__lte=as_of)
    positions = (
        Position.objects.filter(account_id=OuterRef("pk"))
        .annotate(px=Subquery(price.order_by("-date").values("close")[:1]))
        .values("account_id")
        .annotate(mv=Sum(F("quantity") * F("px"), output_field=_MONEY))
        .values("mv")
    )
    return Subquery(positions, output_field=_MONEY)


def _cash_subquery() -> Subquery:
    cash = (
        CashBalance.objects.filter(account_id=OuterRef("pk"), currency=OuterRef("base_currency"))
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(cash, output_field=_MONEY)


def account_queryset(*, as_of: date | None = None) -> QuerySet[InvestmentAccount]:
    """Accounts with household, advisor, firm and model joined, annotated with `market_value`
    (positions at the last close on or before `as_of`, unrounded: quantise at display), `cash`
    (base currency) and `total_value` -- one query for any number of rows."""
    zero = Value(ZERO, output_field=_MONEY)
    return (
        InvestmentAccount.objects.select_related("household__advisor__user", "household__firm", "model")
        .annotate(
            market_value=Coalesce(_market_value_subquery(as_of), zero),
            cash=Coalesce(_cash_subquery(), zero),
        )
        .annotate(total_value=F("market_value") + F("cash"))
    )


def account_list_for_user(
    *,
    user: User,
    search: str = "",
    household_id: int | None = None,
    model_id: int | None = None,
    status: str | None = None,
    as_of: date | None = None,
) -> QuerySet[InvestmentAccount]:
    """The user's accounts for the book page and the API list: one query per page.

    Each row has `household` (with `advisor.user` and `firm`), `model`, and the
    annotations `market_value`, `cash` and `total_value`.
    """
    scoped = InvestmentAccount.objects.filter(household_scope_q(user=user, prefix="household__")).values("pk")
    qs = account_queryset(as_of=as_of).filter(pk__in=scoped)
    if search:
        # Account name or number, household name, or a client's name (first, last or full).
        qs = qs.filter(
            Q(name__icontains=search)
            | Q(custodian_account_number__icontains=search)
            | household_search_q(search, prefix="household__")
        )
    if household_id is not None:
        qs = qs.filter(household_id=household_id)
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("household__name", "name", "id")


def account_get_for_user(*, user: User, pk: int | str) -> InvestmentAccount:
    """One of the user's accounts (annotated as in the list), or 404."""
    return get_object_or_404(account_list_for_user(user=user), pk=pk)


@dataclass(frozen=True, slots=True)
class PositionRow:
    security_id: int
    symbol: str
    name: str
    asset_class: str
    quantity: Decimal
    price: Decimal | None  # None when the security has no close yet
    price_date: date | None
    market_value: Decimal  # cents
    weight: Decimal  # of the account's total value (fraction of 1)
    target_weight: Decimal
    cost_basis: Decimal  # open lots' cost, cents
    unrealised_gain: Decimal


@dataclass(frozen=True, slots=True)
class AccountHoldings:
    positions: tuple[PositionRow, ...]
    cash: Decimal
    market_value: Decimal
    total_value: Decimal
    cash_weight: Decimal


def account_positions(account: InvestmentAccount, *, as_of: date | None = None) -> AccountHoldings:
    """The account's holdings with price, market value, weight, target and cost basis (five queries)."""
    positions = list(
        Position.objects.filter(account=account)
        .exclude(quantity=0)
        .select_related("security")
        .order_by("security__symbol")
    )
    prices = latest_prices([p.security_id for p in positions], as_of=as_of)
    costs = {
        r["security_id"]: r["cost"]
        for r in TaxLot.objects.filter(account=account, quantity__gt=0)
        .values("security_id")
        .annotate(cost=Sum(F("quantity") * F("cost_per_share"), output_field=_MONEY))
    }
    targets = (
        dict(ModelTarget.objects.filter(model_id=account.model_id).values_list("security_id", "weight"))
        if account.model_id
        else {}
    )
    cash = CashBalance.objects.filter(account=account, currency=account.base_currency).values_list("amount", flat=True)
    cash_amount = next(iter(cash), ZERO)
    values = {}
    for p in positions:
        price = prices.get(p.security_id)
        values[p.security_id] = (p.quantity * price.close).quantize(CENT, ROUND_HALF_EVEN) if price else ZERO
    invested = sum(values.values(), ZERO)
    total = invested + cash_amount
    rows = []
    for p in positions:
        price = prices.get(p.security_id)
        cost = (costs.get(p.security_id) or ZERO).quantize(CENT, ROUND_HALF_EVEN)
        mv = values[p.security_id]
        rows.append(
            PositionRow(
                security_id=p.security_id,
                symbol=p.security.symbol,
                name=p.security.name,
                asset_class=p.security.asset_class,
                quantity=p.quantity,
                price=price.close if price else None,
                price_date=price.date if price else None,
                market_value=mv,
                weight=(mv / total) if total else ZERO,
                target_weight=targets.get(p.security_id, ZERO),
                cost_basis=cost,
                unrealised_gain=mv - cost,
            )
        )
    return AccountHoldings(
        positions=tuple(rows),
        cash=cash_amount,
        market_value=invested,
        total_value=total,
        cash_weight=(cash_amount / total) if total else ZERO,
    )


def account_lots(account: InvestmentAccount, *, open_only: bool = True) -> QuerySet[TaxLot]:
    qs = TaxLot.objects.filter(account=account).select_related("security")
    if open_only:
        qs = qs.filter(quantity__gt=0)
    return qs.order_by("security__symbol", "acquired_on", "id")


def account_valuation_series(account: InvestmentAccount, start: date, end: date) -> list[ValuationSnapshot]:
    """The account's daily valuations in [start, end], oldest first (one query)."""
    return list(ValuationSnapshot.objects.filter(account=account, date__gte=start, date__lte=end).order_by("date"))


def account_performance(account: InvestmentAccount, start: date, end: date):  # type: ignore[no-untyped-def]
    """The account's time-weighted return over [start, end] from its valuation snapshots."""
    from portfolios.engine import performance

    points = [
        performance.ValuePoint(date=v.date, value=v.total_value, flow=v.net_external_flow)
        for v in account_valuation_series(account, start, end)
    ]
    return performance.report(points)


def benchmark_performance(*, symbol: str = "SPY", start: date, end: date):  # type: ignore[no-untyped-def]
    """The price return of a benchmark (SPY by default) over [start, end]."""
    from portfolios.engine import performance

    security = Security.objects.filter(symbol=symbol.upper()).first()
    if security is None:
        return None
    return performance.report(performance.points_from_prices(price_history(security=security, start=start, end=end)))


# --- The engine's input -----------------------------------------------------------------------


def engine_snapshots(
    *, account_ids: Sequence[int], as_of: date | None = None
) -> dict[int, rebalancing.AccountSnapshot]:
    """`AccountSnapshot`s for many accounts in seven queries, whatever their number: accounts with
    settings and models, positions, open lots, model targets, cash, securities with their
    latest close on or before `as_of`, and the last loss sale per security in the wash-sale
    window.

    Held-or-targeted securities that are inactive, or have no close at all, are marked
    `restricted` (never bought); one without a close is priced at 0.

    On PostgreSQL this is the nightly batch's hot path: one raw query per table with
    `= ANY(%s)` arrays, tuples straight from psycopg (its Decimals and dates as they come),
    no model instances. Elsewhere (SQLite for `make run`) the ORM version below gives the same
    result in the same number of queries.
    """
    as_of = as_of or timezone.localdate()
    ids = list(account_ids)
    if connection.vendor == "postgresql":
        with _gc_paused():
            return _engine_snapshots_pg(ids, as_of)
    return _engine_snapshots_orm(ids, as_of)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while tens of thousands of small acyclic objects (rows,
    Lots, Holdings) are made: measured at about 40% of engine_snapshots' time on a chunk of
    1,000 accounts otherwise. Nothing made here is cyclic, so nothing is left for later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_BAND_MODES = {m.value: m for m in rebalancing.BandMode}

# Fixed SQL (table names are the models' default db_table), parameters always bound.
_SNAPSHOT_SQL = {
    "accounts": """
        SELECT a.id, a.base_currency, a.model_id, m.cash_target, a.drift_threshold, a.band_mode,
               a.relative_band, a.cash_reserve, a.min_trade_amount, a.fractional_shares, a.rebalance_schedule
        FROM portfolios_investmentaccount a
        LEFT JOIN portfolios_modelportfolio m ON m.id = a.model_id
        WHERE a.id = ANY(%s)""",
    "positions": """
        SELECT account_id, security_id, quantity FROM portfolios_position
        WHERE account_id = ANY(%s) AND quantity <> 0""",
    # Unordered: sorted (acquired_on, id) in Python, only where a holding has several lots.
    "lots": """
        SELECT account_id, security_id, id, quantity, cost_per_share, acquired_on FROM portfolios_taxlot
        WHERE account_id = ANY(%s) AND quantity > 0""",
    "targets": """
        SELECT model_id, security_id, weight FROM portfolios_modeltarget
        WHERE model_id = ANY(%s)""",
    "cash": """
        SELECT c.account_id, c.amount FROM portfolios_cashbalance c
        JOIN portfolios_investmentaccount a ON a.id = c.account_id AND a.base_currency = c.currency
        WHERE c.account_id = ANY(%s)""",
    # The newest close on or before as_of per security: one backward step on the unique
    # (security, date) index each.
    "securities": """
        SELECT s.id, s.symbol, s.is_active,
               (SELECT p.close FROM portfolios_price p
                WHERE p.security_id = s.id AND p.date <= %s ORDER BY p.date DESC LIMIT 1)
        FROM portfolios_security s
        WHERE s.id = ANY(%s)""",
    "loss_sales": """
        SELECT t.account_id, t.security_id, MAX(c.closed_on) FROM portfolios_lotclosure c
        JOIN portfolios_taxlot t ON t.id = c.lot_id
        WHERE t.account_id = ANY(%s) AND c.gain < 0 AND c.closed_on >= %s AND c.closed_on <= %s
        GROUP BY t.account_id, t.security_id""",
}


def _lot_order(lot: rebalancing.Lot) -> tuple[date, int | str]:
    return lot.acquired_on, lot.lot_id


def _engine_snapshots_pg(ids: list[int], as_of: date) -> dict[int, rebalancing.AccountSnapshot]:
    Lot, Holding, Snapshot = rebalancing.Lot, rebalancing.Holding, rebalancing.AccountSnapshot
    sql = _SNAPSHOT_SQL
    with connection.cursor() as cursor:
        cursor.execute(sql["accounts"], [ids])
        accounts = cursor.fetchall()
        if not accounts:
            return {}
        cursor.execute(sql["positions"], [ids])
        positions: dict[int, dict[int, Decimal]] = defaultdict(dict)
        for account_id, security_id, quantity in cursor.fetchall():
            positions[account_id][security_id] = quantity
        cursor.execute(sql["lots"], [ids])
        lots: dict[tuple[int, int], list[rebalancing.Lot]] = defaultdict(list)
        for account_id, security_id, lot_id, quantity, cost, acquired in cursor.fetchall():
            lots[(account_id, security_id)].append(Lot(lot_id, quantity, cost, acquired))
        cursor.execute(sql["targets"], [list({a[2] for a in accounts if a[2] is not None})])
        targets: dict[int, dict[int, Decimal]] = defaultdict(dict)
        for model_id, security_id, weight in cursor.fetchall():
            targets[model_id][security_id] = weight
        cursor.execute(sql["cash"], [ids])
        cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for account_id, amount in cursor.fetchall():
            cash[account_id] += amount
        wanted_ids = {s for held in positions.values() for s in held}
        for model_targets in targets.values():
            wanted_ids.update(model_targets)
        cursor.execute(sql["securities"], [as_of, list(wanted_ids)])
        # id -> (symbol, price, restricted)
        securities = {
            sid: (symbol, close if close is not None else ZERO, not active or close is None)
            for sid, symbol, active, close in cursor.fetchall()
        }
        cursor.execute(sql["loss_sales"], [ids, as_of - timedelta(days=WASH_SALE_DAYS), as_of])
        loss_sales = {(a, s): last for a, s, last in cursor.fetchall()}
    no_lots: tuple[rebalancing.Lot, ...] = ()
    # Holdings in symbol order, by a precomputed rank (a C-level sort key).
    rank = {sid: n for n, sid in enumerate(sorted(securities, key=lambda sid: securities[sid][0]))}.__getitem__
    out: dict[int, rebalancing.AccountSnapshot] = {}
    for (
        account_id,
        currency,
        model_id,
        cash_target,
        threshold,
        band_mode,
        relative_band,
        reserve,
        min_trade,
        fractional,
        schedule,
    ) in accounts:
        held = positions.get(account_id, {})
        wanted = targets.get(model_id, {}) if model_id is not None else {}
        holdings = []
        for security_id in sorted(held.keys() | wanted.keys(), key=rank):
            symbol, price, restricted = securities[security_id]
            key = (account_id, security_id)
            account_lots = lots.get(key)
            holdings.append(
                Holding(
                    symbol,
                    held.get(security_id, ZERO),
                    price,
                    wanted.get(security_id, ZERO),
                    (tuple(sorted(account_lots, key=_lot_order)) if len(account_lots) > 1 else (account_lots[0],))
                    if account_lots
                    else no_lots,
                    restricted,
                    loss_sales.get(key),
                )
            )
        out[account_id] = Snapshot(
            account_id=account_id,
            as_of=as_of,
            currency=currency,
            cash=cash[account_id],
            holdings=tuple(holdings),
            cash_target=cash_target if cash_target is not None else ZERO,
            threshold=threshold,
            band_mode=_BAND_MODES[band_mode],
            relative_band=relative_band,
            cash_reserve=reserve,
            min_trade_amount=min_trade,
            fractional_shares=fractional,
            schedule=schedule,
        )
    return out


def _engine_snapshots_orm(ids: list[int], as_of: date) -> dict[int, rebalancing.AccountSnapshot]:
    accounts = list(
        InvestmentAccount.objects.filter(pk__in=ids)
        .select_related("model")
        .only(
            "id",
            "base_currency",
            "model__id",
            "model__cash_target",
            "drift_threshold",
            "band_mode",
            "relative_band",
            "cash_reserve",
            "min_trade_amount",
            "fractional_shares",
            "rebalance_schedule",
        )
    )
    if not accounts:
        return {}
    positions: dict[int, dict[int, Decimal]] = defaultdict(dict)
    securities: dict[int, tuple[str, bool]] = {}
    for account_id, security_id, quantity, symbol, active in (
        Position.objects.filter(account_id__in=ids)
        .exclude(quantity=0)
        .values_list("account_id", "security_id", "quantity", "security__symbol", "security__is_active")
    ):
        positions[account_id][security_id] = quantity
        securities[security_id] = (symbol, active)
    lots: dict[tuple[int, int], list[rebalancing.Lot]] = defaultdict(list)
    for lot_id, account_id, security_id, quantity, cost, acquired in (
        TaxLot.objects.filter(account_id__in=ids, quantity__gt=0)
        .order_by("acquired_on", "id")
        .values_list("id", "account_id", "security_id", "quantity", "cost_per_share", "acquired_on")
    ):
        lots[(account_id, security_id)].append(rebalancing.Lot(lot_id, quantity, cost, acquired))
    model_ids = {a.model_id for a in accounts if a.model_id}
    targets: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for model_id, security_id, weight, symbol, active in ModelTarget.objects.filter(model_id__in=model_ids).values_list(
        "model_id", "security_id", "weight", "security__symbol", "security__is_active"
    ):
        targets[model_id][security_id] = weight
        securities[security_id] = (symbol, active)
    cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    currency = {a.pk: a.base_currency for a in accounts}
    for account_id, cur, amount in CashBalance.objects.filter(account_id__in=ids).values_list(
        "account_id", "currency", "amount"
    ):
        if currency[account_id] == cur:
            cash[account_id] += amount
    prices = latest_prices(list(securities), as_of=as_of)
    loss_sales = {
        (r["lot__account_id"], r["lot__security_id"]): r["last"]
        for r in LotClosure.objects.filter(
            lot__account_id__in=ids,
            gain__lt=0,
            closed_on__gte=as_of - timedelta(days=WASH_SALE_DAYS),
            closed_on__lte=as_of,
        )
        .values("lot__account_id", "lot__security_id")
        .annotate(last=Max("closed_on"))
    }
    out: dict[int, rebalancing.AccountSnapshot] = {}
    for account in accounts:
        held = positions.get(account.pk, {})
        wanted = targets.get(account.model_id, {}) if account.model_id else {}
        holdings = []
        for security_id in sorted(set(held) | set(wanted), key=lambda s: securities[s][0]):
            symbol, active = securities[security_id]
            price = prices.get(security_id)
            holdings.append(
                rebalancing.Holding(
                    symbol=symbol,
                    quantity=held.get(security_id, ZERO),
                    price=price.close if price else ZERO,
                    target_weight=wanted.get(security_id, ZERO),
                    lots=tuple(lots.get((account.pk, security_id), ())),
                    restricted=not active or price is None,
                    last_loss_sale_on=loss_sales.get((account.pk, security_id)),
                )
            )
        out[account.pk] = rebalancing.AccountSnapshot(
            account_id=account.pk,
            as_of=as_of,
            currency=account.base_currency,
            cash=cash[account.pk],
            holdings=tuple(holdings),
            cash_target=account.model.cash_target if account.model is not None else ZERO,
            threshold=account.drift_threshold,
            band_mode=rebalancing.BandMode(account.band_mode),
            relative_band=account.relative_band,
            cash_reserve=account.cash_reserve,
            min_trade_amount=account.min_trade_amount,
            fractional_shares=account.fractional_shares,
            schedule=account.rebalance_schedule,
        )
    return out


def account_drift(account: InvestmentAccount, *, as_of: date | None = None) -> rebalancing.DriftReport:
    """The account's drift against its model now (or at `as_of`'s prices)."""
    snapshot = engine_snapshots(account_ids=[account.pk], as_of=as_of)[account.pk]
    return rebalancing.calculate_drift(snapshot)  # type: ignore[attr-defined]
