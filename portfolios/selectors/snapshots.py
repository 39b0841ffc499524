"""The engine's input: `AccountSnapshot`s for many accounts in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from portfolios.engine import rebalancing, substitutes, wash_sales
from portfolios.engine.memory import cyclic_gc_paused
from portfolios.engine.rebalancing import ONE
from portfolios.models import (
    ZERO,
    CashBalance,
    InvestmentAccount,
    JournalEntry,
    LotClosure,
    ModelTarget,
    Position,
    TaxLot,
    WashSaleAdjustment,
)
from portfolios.selectors.common import WASH_SALE_DAYS
from portfolios.selectors.prices import latest_prices
from portfolios.selectors.tax import model_substitutes

# --- The engine's input -----------------------------------------------------------------------


def engine_snapshots(
    *, account_ids: Sequence[int], as_of: date | None = None
) -> dict[int, rebalancing.AccountSnapshot]:
    """`AccountSnapshot`s for many accounts in eight queries, whatever their number: accounts with
    settings and models, positions, open lots, model targets, cash, securities with their
    latest close on or before `as_of`, and — household-wide, every account of each account's
    household — the last loss sale per security in the wash-sale window and the purchases of
    that window not yet used as replacement shares.

    Held-or-targeted securities that are inactive, or have no close at all, are marked
    `restricted` (never bought); one without a close is priced at 0. A held substitute of a
    model's substitution pair stands in for its security (`engine.substitutes`): the pairs come
    with the targets.

    On PostgreSQL this is the nightly batch's hot path: one raw query per table with
    `= ANY(%s)` arrays, tuples straight from psycopg (its Decimals and dates as they come),
    no model instances. Elsewhere (SQLite for `make run`) the ORM version below gives the same
    result in one query more (the substitution pairs, which PostgreSQL reads with the targets).
    """
    as_of = as_of or timezone.localdate()
    ids = list(account_ids)
    if connection.vendor == "postgresql":
        with cyclic_gc_paused():
            return _engine_snapshots_pg(ids, as_of)
    return _engine_snapshots_orm(ids, as_of)


_BAND_MODES = {m.value: m for m in rebalancing.BandMode}

# Fixed SQL (table names are the models' default db_table), parameters always bound.
SNAPSHOT_SQL = {
    "accounts": """
        SELECT a.id, a.base_currency, a.model_id, m.cash_target, a.drift_threshold, a.band_mode,
               a.relative_band, a.cash_reserve, a.min_trade_amount, a.fractional_shares, a.rebalance_schedule,
               a.lot_relief_method, a.household_id
        FROM portfolios_investmentaccount a
        LEFT JOIN portfolios_modelportfolio m ON m.id = a.model_id
        WHERE a.id = ANY(%s)""",
    "positions": """
        SELECT account_id, security_id, quantity FROM portfolios_position
        WHERE account_id = ANY(%s) AND quantity <> 0""",
    # Unordered: sorted (acquired_on, id) in Python, only where a holding has several lots.
    "lots": """
        SELECT account_id, security_id, id, quantity, cost_per_share, acquired_on, held_from, split_from_id
        FROM portfolios_taxlot
        WHERE account_id = ANY(%s) AND quantity > 0""",
    # The models' targets (substitute NULL) and their substitution pairs (weight NULL), one query.
    "targets": """
        SELECT model_id, security_id, weight, NULL FROM portfolios_modeltarget
        WHERE model_id = ANY(%s)
        UNION ALL
        SELECT model_id, security_id, NULL, substitute_id FROM portfolios_substitutionpair
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
    # Household-wide (every account of each account's household, IRAs included): the last loss
    # sale per security in the window, and the purchases of the window not yet replacement shares.
    # Rows by household, each once, however many of its accounts are asked for.
    "loss_sales": """
        SELECT h.household_id, t.security_id, MAX(c.closed_on) FROM portfolios_lotclosure c
        JOIN portfolios_taxlot t ON t.id = c.lot_id
        JOIN portfolios_investmentaccount h ON h.id = t.account_id
        WHERE h.household_id = ANY(%s) AND c.gain < 0 AND c.closed_on >= %s AND c.closed_on <= %s
        GROUP BY h.household_id, t.security_id""",
    "recent_buys": """
        SELECT h.household_id, t.security_id, t.id, COALESCE(t.split_from_id, t.id), t.account_id, t.acquired_on,
               t.quantity
        FROM portfolios_taxlot t
        JOIN portfolios_investmentaccount h ON h.id = t.account_id
        LEFT JOIN portfolios_journalentry e ON e.id = t.entry_id
        WHERE h.household_id = ANY(%s) AND t.quantity > 0 AND t.acquired_on >= %s AND t.acquired_on <= %s
          AND (t.entry_id IS NULL OR e.kind = 'trade')
          AND NOT EXISTS (SELECT 1 FROM portfolios_washsaleadjustment w WHERE w.replacement_id = t.id)
        ORDER BY t.acquired_on, t.id""",
}


def _lot_order(lot: rebalancing.Lot) -> tuple[date, int | str]:
    return lot.acquired_on, lot.lot_id


def _engine_snapshots_pg(ids: list[int], as_of: date) -> dict[int, rebalancing.AccountSnapshot]:
    Lot, Holding, Snapshot = rebalancing.Lot, rebalancing.Holding, rebalancing.AccountSnapshot
    sql = SNAPSHOT_SQL
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
        for account_id, security_id, lot_id, quantity, cost, acquired, held_from, split_from in cursor.fetchall():
            lots[(account_id, security_id)].append(Lot(lot_id, quantity, cost, acquired, held_from, split_from))
        model_ids = list({a[2] for a in accounts if a[2] is not None})
        cursor.execute(sql["targets"], [model_ids, model_ids])
        targets: dict[int, dict[int, Decimal]] = defaultdict(dict)
        pairs: dict[int, dict[int, int]] = defaultdict(dict)
        for model_id, security_id, weight, substitute_id in cursor.fetchall():
            if substitute_id is None:
                targets[model_id][security_id] = weight
            else:
                pairs[model_id][security_id] = substitute_id
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
        households = list({a[-1] for a in accounts})
        cursor.execute(sql["loss_sales"], [households, as_of - timedelta(days=WASH_SALE_DAYS), as_of])
        loss_sales = {(h, s): last for h, s, last in cursor.fetchall()}
        cursor.execute(sql["recent_buys"], [households, as_of - timedelta(days=WASH_SALE_DAYS), as_of])
        recent_buys = _recent_buys(cursor.fetchall())
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
        lot_method,
        household_id,
    ) in accounts:
        held = positions.get(account_id, {})
        wanted = targets.get(model_id, {}) if model_id is not None else {}
        shares: dict[int, Decimal] = {}
        if model_id in pairs:
            wanted, shares = _stand_in(wanted, held, pairs[model_id], lambda sid: securities[sid][1])
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
                    loss_sales.get((household_id, security_id)),
                    recent_buys.get((household_id, security_id), ()),
                    shares.get(security_id, ONE),
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
            lot_method=lot_method,
        )
    return out


def _recent_buys(rows: Iterable[tuple[Any, ...]]) -> dict[tuple[int, int], tuple[wash_sales.Acquisition, ...]]:
    """{(household id, security id): the household's recent purchases of it}, from rows of
    (household id, security id, lot id, purchase id, lot's account id, acquired on, quantity)."""
    out: dict[tuple[int, int], list[wash_sales.Acquisition]] = defaultdict(list)
    for household_id, security_id, lot_id, purchase_id, owner_id, acquired, quantity in rows:
        out[(household_id, security_id)].append(
            wash_sales.Acquisition(lot_id, purchase_id, owner_id, security_id, acquired, quantity)
        )
    return {key: tuple(buys) for key, buys in out.items()}


def _stand_in(
    wanted: dict[int, Decimal], held: dict[int, Decimal], pairs: dict[int, int], price: Any
) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """The model's targets with the account's held substitutes standing in, and the shared
    sleeves' band shares (`engine.substitutes.stand_in`)."""
    values = {sid: held[sid] * price(sid) for sid in {*pairs, *pairs.values()} if sid in held}
    return substitutes.stand_in(wanted, values, pairs)


def _close(price: Any) -> Decimal:
    return price.close if price is not None else ZERO


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
            "lot_relief_method",
            "household_id",
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
    for lot_id, account_id, security_id, quantity, cost, acquired, held_from, split_from in (
        TaxLot.objects.filter(account_id__in=ids, quantity__gt=0)
        .order_by("acquired_on", "id")
        .values_list(
            "id", "account_id", "security_id", "quantity", "cost_per_share", "acquired_on", "held_from", "split_from_id"
        )
    ):
        lots[(account_id, security_id)].append(rebalancing.Lot(lot_id, quantity, cost, acquired, held_from, split_from))
    model_ids = {a.model_id for a in accounts if a.model_id}
    targets: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for model_id, security_id, weight, symbol, active in ModelTarget.objects.filter(model_id__in=model_ids).values_list(
        "model_id", "security_id", "weight", "security__symbol", "security__is_active"
    ):
        targets[model_id][security_id] = weight
        securities[security_id] = (symbol, active)
    pairs = model_substitutes(model_ids=model_ids)
    cash: dict[int, Decimal] = defaultdict(lambda: ZERO)
    currency = {a.pk: a.base_currency for a in accounts}
    for account_id, cur, amount in CashBalance.objects.filter(account_id__in=ids).values_list(
        "account_id", "currency", "amount"
    ):
        if currency[account_id] == cur:
            cash[account_id] += amount
    prices = latest_prices(list(securities), as_of=as_of)
    # Household-wide, as the PostgreSQL path: every account of each account's household.
    households = {a.household_id for a in accounts}
    window = (as_of - timedelta(days=WASH_SALE_DAYS), as_of)
    loss_sales = {
        (r["lot__account__household_id"], r["lot__security_id"]): r["last"]
        for r in LotClosure.objects.filter(
            lot__account__household_id__in=households, gain__lt=0, closed_on__range=window
        )
        .values("lot__account__household_id", "lot__security_id")
        .annotate(last=Max("closed_on"))
    }
    recent_buys = _recent_buys(
        TaxLot.objects.filter(
            Q(entry__isnull=True) | Q(entry__kind=JournalEntry.Kind.TRADE),
            account__household_id__in=households,
            quantity__gt=0,
            acquired_on__range=window,
        )
        .exclude(Exists(WashSaleAdjustment.objects.filter(replacement_id=OuterRef("pk"))))
        .annotate(purchase=Coalesce("split_from_id", "id"))
        .order_by("acquired_on", "id")
        .values_list("account__household_id", "security_id", "id", "purchase", "account_id", "acquired_on", "quantity")
    )
    out: dict[int, rebalancing.AccountSnapshot] = {}
    for account in accounts:
        held = positions.get(account.pk, {})
        wanted = targets.get(account.model_id, {}) if account.model_id else {}
        shares: dict[int, Decimal] = {}
        if account.model_id in pairs:
            wanted, shares = _stand_in(wanted, held, pairs[account.model_id], lambda sid: _close(prices.get(sid)))
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
                    last_loss_sale_on=loss_sales.get((account.household_id, security_id)),
                    recent_buys=recent_buys.get((account.household_id, security_id), ()),
                    band_share=shares.get(security_id, ONE),
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
            lot_method=account.lot_relief_method,
        )
    return out
