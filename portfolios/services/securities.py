"""Writes to securities and their prices (validated closes, stored in bulk, ingested from the
market-data adapter)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from accounts.services import system_user
from kronos import readcache
from kronos.history import save_attributed
from portfolios.adapters.market_data import get_provider
from portfolios.errors import PortfoliosError
from portfolios.figures import refresh_following
from portfolios.models import (
    AssetClass,
    Price,
    Security,
)
from portfolios.services.common import PRICE_QUANTUM, parse_decimal

# --- Securities and prices ----------------------------------------------------------------------


@transaction.atomic
def security_create(
    *,
    symbol: str,
    acting_user: User,
    name: str = "",
    asset_class: str = AssetClass.US_EQUITY,
    currency: str = "USD",
    is_active: bool = True,
) -> Security:
    """Create a security; the symbol is stored upper-case and must be new."""
    symbol = (symbol or "").strip().upper()
    if not symbol:
        raise PortfoliosError("A symbol is required.", field="symbol")
    if Security.objects.filter(symbol=symbol).exists():
        raise PortfoliosError(f"The security {symbol} already exists.", field="symbol", status_code=409)
    if asset_class not in AssetClass.values:
        raise PortfoliosError(f"'{asset_class}' is not an asset class.", field="asset_class")
    security = Security(
        symbol=symbol, name=name.strip(), asset_class=asset_class, currency=currency.upper(), is_active=is_active
    )
    try:
        return save_attributed(security, acting_user=acting_user, reason="security created")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


SECURITY_EDITABLE_FIELDS = frozenset({"name", "asset_class", "currency", "is_active"})


@transaction.atomic
def security_update(*, security: Security, acting_user: User, **changes: Any) -> Security:
    """Change a security's name, asset class, currency or active flag (the symbol is its identity)."""
    unknown = set(changes) - SECURITY_EDITABLE_FIELDS
    if unknown:
        raise PortfoliosError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    security = Security.objects.select_for_update().get(pk=security.pk)
    for field, value in changes.items():
        setattr(security, field, value)
    if "asset_class" in changes and security.asset_class not in AssetClass.values:
        raise PortfoliosError(f"'{security.asset_class}' is not an asset class.", field="asset_class")
    try:
        return save_attributed(security, acting_user=acting_user, reason="security updated")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


@dataclass(frozen=True, slots=True)
class PriceRow:
    symbol: str
    date: date
    close: Decimal


@dataclass(frozen=True, slots=True)
class PriceStoreResult:
    rows: int  # rows given
    inserted: int  # new (security, date) rows
    changed: int  # existing rows whose close changed

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.changed


def price_validate(*, symbol: str, day: Any, close: Any, today: date | None = None) -> tuple[str, date, Decimal]:
    """One price's symbol, date and close, validated; the close rounded to 6 places (ROUND_HALF_EVEN)."""
    symbol = (symbol or "").strip().upper()
    if not symbol:
        raise PortfoliosError("The symbol is missing.", field="symbol")
    if not isinstance(day, date):
        try:
            day = date.fromisoformat(str(day).strip())
        except ValueError as exc:
            raise PortfoliosError(f"'{day}' is not a date (YYYY-MM-DD).", field="date") from exc
    if day > (today or timezone.localdate()):
        raise PortfoliosError(f"The date {day} is in the future.", field="date")
    try:
        value = parse_decimal(close, field="close", what=f"The close for {symbol}")
    except PortfoliosError as exc:
        raise PortfoliosError(f"The close for {symbol} is not a positive number: '{close}'.", field="close") from exc
    if value <= 0:
        raise PortfoliosError(f"The close for {symbol} is not a positive number: '{close}'.", field="close")
    return symbol, day, value.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def prices_store(
    *, rows: Iterable[PriceRow | Mapping[str, Any]], source: str = "manual", create_securities: bool = False
) -> PriceStoreResult:
    """Store closes all-or-nothing: every row is validated (close > 0, date not in the future,
    known symbol unless `create_securities`) before any is written; a day's existing close is
    replaced only when it differs, so storing the same rows twice changes nothing.

    Prices are market data without a history table, so no acting user is needed.
    """
    today = timezone.localdate()
    cleaned: dict[tuple[str, date], Decimal] = {}
    for row in rows:
        if isinstance(row, Mapping):
            symbol, day, close = row.get("symbol", ""), row.get("date"), row.get("close")
        else:
            symbol, day, close = row.symbol, row.date, row.close
        key_symbol, key_day, value = price_validate(symbol=symbol, day=day, close=close, today=today)
        cleaned[(key_symbol, key_day)] = value
    with transaction.atomic():
        ids = security_ids_for(symbols={s for s, _ in cleaned}, create=create_securities)
        result = prices_upsert([(ids[s], d, c) for (s, d), c in cleaned.items()], source=source)
    return result


def security_ids_for(*, symbols: Iterable[str], create: bool = False) -> dict[str, int]:
    """Symbol -> security id; unknown symbols are refused, or created (as 'other') when `create`."""
    wanted = set(symbols)
    ids = dict(Security.objects.filter(symbol__in=wanted).values_list("symbol", "pk"))
    missing = sorted(wanted - set(ids))
    if missing and not create:
        raise PortfoliosError(f"Unknown symbol: {', '.join(missing)}.", field="symbol")
    if missing:
        bulk_create_with_history(
            [Security(symbol=s, name=s, asset_class=AssetClass.OTHER) for s in missing],
            Security,
            default_user=system_user(),
            default_change_reason="created by a price import",
        )
        ids.update(Security.objects.filter(symbol__in=missing).values_list("symbol", "pk"))
    return ids


def prices_upsert(rows: Sequence[tuple[int, date, Decimal]], *, source: str) -> PriceStoreResult:
    """Insert or replace (security_id, date, close) rows already validated; returns what changed.

    On PostgreSQL: COPY into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE
    that only touches rows whose close differs. Elsewhere: read the existing rows and
    bulk-create/-update in batches.
    """
    if not rows:
        return PriceStoreResult(rows=0, inserted=0, changed=0)
    if connection.vendor == "postgresql":
        return _prices_upsert_postgresql(rows, source=source)
    return _prices_upsert_portable(rows, source=source)


# Two statements from the loaded rows: the closes that differ are replaced (counted as changed;
# an identical close changes nothing), then the new (security, day) rows go in, in the unique
# index's order. Plain INSERT and UPDATE, not INSERT ... ON CONFLICT: its speculative insertion
# costs about twice as much a row, and the table lock below keeps another writer from adding the
# same day in between.
_PRICE_CHANGE_SQL = """
    UPDATE portfolios_price p SET close = l.close, source = %s, updated_at = now()
      FROM portfolios_price_load l
     WHERE p.security_id = l.security_id AND p.date = l.date AND p.close IS DISTINCT FROM l.close
"""
_PRICE_INSERT_SQL = """
    INSERT INTO portfolios_price (security_id, date, close, source, updated_at)
    SELECT l.security_id, l.date, l.close, %s, now() FROM portfolios_price_load l
     WHERE NOT EXISTS (SELECT 1 FROM portfolios_price p WHERE p.security_id = l.security_id AND p.date = l.date)
     ORDER BY l.security_id, l.date
"""
COPY_BLOCK = 20_000  # rows a COPY write


def _prices_upsert_postgresql(rows: Sequence[tuple[int, date, Decimal]], *, source: str) -> PriceStoreResult:
    """COPY the rows (as text, in blocks) into a temporary table, then one UPDATE and one INSERT.

    Price writers are serialised for the transaction (SHARE ROW EXCLUSIVE: readers go on). The
    rows' securities exist (callers take their ids from `security_ids_for`, one check per
    security), which is why the price table keeps no per-row foreign-key trigger (`Price.security`)."""
    assert Price._meta.db_table == "portfolios_price"  # the statements above name it
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE portfolios_price IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS portfolios_price_load "
            "(security_id bigint, date date, close numeric(20, 6)) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE portfolios_price_load")
        with cursor.cursor.copy("COPY portfolios_price_load (security_id, date, close) FROM STDIN") as copy:
            for start in range(0, len(rows), COPY_BLOCK):
                copy.write("".join(f"{s}\t{d}\t{c}\n" for s, d, c in rows[start : start + COPY_BLOCK]))
        cursor.execute("ANALYZE portfolios_price_load")
        cursor.execute(_PRICE_CHANGE_SQL, [source])
        changed = cursor.rowcount
        cursor.execute(_PRICE_INSERT_SQL, [source])
        inserted = cursor.rowcount
        readcache.touch(readcache.SHARED)  # prices: every firm's valuations read them
        if inserted or changed:
            refresh_following(security_ids={r[0] for r in rows})
    return PriceStoreResult(rows=len(rows), inserted=inserted, changed=changed)


def _prices_upsert_portable(rows: Sequence[tuple[int, date, Decimal]], *, source: str) -> PriceStoreResult:
    inserted = changed = 0
    batch = 2000
    with transaction.atomic():
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            securities = {r[0] for r in chunk}
            dates = {r[1] for r in chunk}
            existing = {
                (p.security_id, p.date): p
                for p in Price.objects.filter(security_id__in=securities, date__in=dates).only(
                    "id", "security_id", "date", "close"
                )
            }
            new, updated = [], []
            for security_id, day, close in chunk:
                found = existing.get((security_id, day))
                if found is None:
                    new.append(Price(security_id=security_id, date=day, close=close, source=source))
                elif found.close != close:
                    found.close, found.source, found.updated_at = close, source, timezone.now()
                    updated.append(found)
            Price.objects.bulk_create(new)
            Price.objects.bulk_update(updated, ["close", "source", "updated_at"])
            inserted += len(new)
            changed += len(updated)
        readcache.touch(readcache.SHARED)  # prices: every firm's valuations read them
        if inserted or changed:
            refresh_following(security_ids={r[0] for r in rows})
    return PriceStoreResult(rows=len(rows), inserted=inserted, changed=changed)


def prices_ingest(*, as_of: date, symbols: Iterable[str] | None = None, start: date | None = None) -> PriceStoreResult:
    """Pull the closes from `start` (default: `as_of`) to `as_of` from the configured market-data
    adapter for `symbols` (default: every active security) and store them with `prices_store`."""

    if symbols is None:
        symbols = list(Security.objects.filter(is_active=True).values_list("symbol", flat=True))
    symbols = sorted({s.upper() for s in symbols})
    if not symbols:
        return PriceStoreResult(rows=0, inserted=0, changed=0)
    provider = get_provider()
    closes = provider.daily_closes(symbols, start or as_of, as_of)
    rows = [PriceRow(symbol=s, date=d, close=c) for s, series in closes.items() for d, c in series]
    return prices_store(rows=rows, source=provider.name)
