"""The demo firm's securities, prices, model portfolios and accounts: deterministic and fast.

`seed(demo)` is called by `seed_demo` after `accounts.demo.seed()`. Prices are a seeded
geometric random walk over two years of business days to today, loaded in bulk; accounts
are funded by `services.transfer_in` (through the ledger, with tax lots) acting as
`demo.acting_user`; some are deliberately drifted past 5 points; valuations are written
for every business day so the performance charts have data.

`bulk_funded_accounts()` builds many funded accounts through ONE ledger entry; tests and
benchmarks use it too.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from kronos.history import attribute
from kronos.readcache import copy_rows
from portfolios import ledger, services
from portfolios.ledger import PostingSpec
from portfolios.models import (
    CashBalance,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    ModelPortfolio,
    Position,
    Posting,
    Price,
    Security,
    TaxLot,
    ValuationSnapshot,
)

# symbol, name, asset class, starting close, yearly drift, yearly volatility
SECURITIES = [
    ("SPY", "SPDR S&P 500 ETF Trust", "us_equity", 420, 0.08, 0.17),
    ("VTI", "Vanguard Total Stock Market ETF", "us_equity", 210, 0.08, 0.18),
    ("QQQ", "Invesco QQQ Trust", "us_equity", 350, 0.11, 0.24),
    ("IWM", "iShares Russell 2000 ETF", "us_equity", 190, 0.06, 0.23),
    ("VXUS", "Vanguard Total International Stock ETF", "intl_equity", 56, 0.05, 0.16),
    ("EFA", "iShares MSCI EAFE ETF", "intl_equity", 72, 0.05, 0.16),
    ("VWO", "Vanguard FTSE Emerging Markets ETF", "intl_equity", 41, 0.04, 0.20),
    ("BND", "Vanguard Total Bond Market ETF", "bonds", 73, 0.02, 0.06),
    ("AGG", "iShares Core US Aggregate Bond ETF", "bonds", 98, 0.02, 0.06),
    ("TIP", "iShares TIPS Bond ETF", "bonds", 108, 0.02, 0.05),
    ("VNQ", "Vanguard Real Estate ETF", "real_estate", 84, 0.04, 0.21),
    ("GLD", "SPDR Gold Shares", "commodities", 175, 0.04, 0.14),
    ("SHV", "iShares Short Treasury Bond ETF", "cash_equivalent", 110, 0.03, 0.005),
]

MODELS = [
    ("Conservative Income", 3, "0.05", {"BND": "0.40", "AGG": "0.20", "TIP": "0.10", "SPY": "0.15", "VXUS": "0.10"}),
    ("Balanced 60/40", 5, "0.02", {"VTI": "0.40", "VXUS": "0.18", "BND": "0.30", "AGG": "0.10"}),
    ("Growth", 7, "0.02", {"VTI": "0.45", "QQQ": "0.10", "VXUS": "0.20", "VWO": "0.05", "BND": "0.13", "VNQ": "0.05"}),
    ("Aggressive Growth", 8, "0.01", {"VTI": "0.45", "QQQ": "0.20", "IWM": "0.09", "EFA": "0.15", "VWO": "0.10"}),
]

PRICE_DAYS = 2 * 365
CENT = Decimal("0.01")


def business_days(start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def synthetic_prices(days: Sequence[date], *, seed: int = 20260101) -> dict[str, list[tuple[date, Decimal]]]:
    """A seeded geometric random walk per symbol (deterministic: same seed, same prices)."""
    rng = random.Random(seed)  # noqa: S311 -- demo data, not security  # nosec B311 -- not for security: deterministic demo data or retry jitter
    out: dict[str, list[tuple[date, Decimal]]] = {}
    dt = 1 / 252
    for symbol, _name, _cls, start, mu, sigma in SECURITIES:
        price = float(start)
        series = []
        for day in days:
            series.append((day, Decimal(repr(price)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)))
            price *= math.exp((mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * rng.gauss(0, 1))
        out[symbol] = series
    return out


@dataclass
class FundedAccount:
    account: InvestmentAccount
    holdings: dict[str, Decimal]
    cash: Decimal


def bulk_funded_accounts(
    *,
    household: Any,
    count: int,
    holdings: dict[str, Decimal] | Sequence[dict[str, Decimal]],
    cash: Decimal,
    acting_user: Any,
    model: ModelPortfolio | None = None,
    effective_date: date | None = None,
    cost_per_share: Decimal = Decimal("50"),
    prefix: str = "BULK",
    lots: bool = True,
) -> list[InvestmentAccount]:
    """`count` accounts of `household`, each transferred in `holdings` (symbol -> quantity; or one
    dict per account) and `cash` through ONE balanced ledger entry, with one lot per holding.

    For demo data, tests and benchmarks: a fixed handful of bulk queries whatever `count`.
    """
    day = effective_date or timezone.localdate()
    accounts = [
        InvestmentAccount(
            household=household,
            name=f"{prefix} account {i + 1}",
            custodian_account_number=f"{prefix}-{household.pk}-{i + 1:06d}",
            model=model,
            opened_on=day,
        )
        for i in range(count)
    ]
    bulk_create_with_history(accounts, InvestmentAccount, default_user=acting_user, default_change_reason="bulk")
    accounts = list(InvestmentAccount.objects.filter(custodian_account_number__startswith=f"{prefix}-{household.pk}-"))
    books = ledger.client_books(accounts)
    per_account = [holdings] * count if isinstance(holdings, dict) else list(holdings)
    symbols = {s for h in per_account for s in h}
    securities = {s.symbol: s for s in Security.objects.filter(symbol__in=symbols)}
    source = ledger.system_book(LedgerBook.Kind.TRANSFERS, firm=household.firm_id)
    postings: list[PostingSpec] = []
    totals: dict[str, Decimal] = {}
    for account, wanted in zip(accounts, per_account, strict=True):
        for symbol, quantity in wanted.items():
            postings.append(PostingSpec.shares(books[account.pk], securities[symbol], quantity))
            totals[symbol] = totals.get(symbol, Decimal(0)) + quantity
        if cash:
            postings.append(PostingSpec.cash(books[account.pk], cash))
    for symbol, quantity in totals.items():
        postings.append(PostingSpec.shares(source, securities[symbol], -quantity))
    if cash:
        postings.append(PostingSpec.cash(source, -cash * count))
    entry = ledger.post_entry(
        kind=JournalEntry.Kind.TRANSFER_IN,
        postings=postings,
        effective_date=day,
        memo=f"bulk transfer in ({count} accounts)",
        acting_user=acting_user,
    )
    if lots:
        bulk_create_with_history(
            [
                TaxLot(
                    account=account,
                    security=securities[symbol],
                    quantity=quantity,
                    original_quantity=quantity,
                    cost_per_share=cost_per_share,
                    acquired_on=day,
                    entry=entry,
                )
                for account, wanted in zip(accounts, per_account, strict=True)
                for symbol, quantity in wanted.items()
            ],
            TaxLot,
            default_user=acting_user,
            default_change_reason="bulk",
            batch_size=5000,
        )
    return accounts


def seed(demo: Any) -> None:
    user = demo.acting_user
    rng = random.Random(20260102)  # noqa: S311 -- demo data  # nosec B311 -- not for security: deterministic demo data or retry jitter
    today = timezone.localdate()
    days = business_days(today - timedelta(days=PRICE_DAYS), today)

    for symbol, name, asset_class, *_ in SECURITIES:
        services.security_create(symbol=symbol, name=name, asset_class=asset_class, acting_user=user)
    ids = dict(Security.objects.values_list("symbol", "pk"))
    series = synthetic_prices(days)
    services.prices_upsert(
        [(ids[symbol], day, close) for symbol, rows in series.items() for day, close in rows], source="demo"
    )
    close_on = {(symbol, day): close for symbol, rows in series.items() for day, close in rows}

    models = [
        services.model_portfolio_create(
            firm=demo.firm,
            name=name,
            risk_level=risk,
            cash_target=Decimal(cash),
            targets={s: Decimal(w) for s, w in targets.items()},
            description=f"Risk level {risk} of 10.",
            acting_user=user,
        )
        for name, risk, cash, targets in MODELS
    ]

    start = days[0]
    number = 0
    drifted: list[InvestmentAccount] = []
    for h, household in enumerate(demo.households):
        for k in range(1 + (h % 3 == 0)):
            number += 1
            model = models[(h + k) % len(models)]
            account = services.account_create(
                household=household,
                name=("Joint brokerage" if k == 0 else "Roth IRA") if h % 3 == 0 else "Individual brokerage",
                account_type="roth_ira" if k == 1 else ("joint" if h % 3 == 0 else "individual"),
                custodian_account_number=f"DEMO-{number:05d}",
                opened_on=start,
                fractional_shares=number % 4 == 0,
                acting_user=user,
            )
            # Suitability data comes with the compliance seed (after this one), so the demo
            # assigns its models as initial data, outside model_assign's checks.
            account.model = model
            account._history_user = user  # type: ignore[attr-defined]
            account.save(update_fields=["model"])
            value = Decimal(rng.randrange(80, 1500) * 1000)
            is_drifted = number % 3 == 0
            positions = []
            for target in model.targets.select_related("security"):
                symbol = target.security.symbol
                weight = target.weight
                if is_drifted:  # equities tilted away from the model: past a 5-point band
                    weight = weight * Decimal("1.6") if target.security.asset_class == "us_equity" else weight / 2
                # sized at today's closes, so only the deliberately drifted accounts breach their bands
                price = close_on[(symbol, days[-1])]
                quantity = (value * weight / price).quantize(Decimal(1))
                if quantity <= 0:
                    continue
                # several lots per holding: bought at different costs before the transfer
                split = [quantity // 2, quantity - quantity // 2] if quantity > 1 else [quantity]
                for j, part in enumerate(split):
                    cost = (price * Decimal(str(0.7 + 0.25 * j + rng.random() * 0.2))).quantize(CENT)
                    positions.append(
                        {
                            "symbol": symbol,
                            "quantity": part,
                            "cost_basis": (cost * part).quantize(CENT),
                            "acquired_on": start - timedelta(days=200 + 300 * j + rng.randrange(100)),
                        }
                    )
            cash = (value * model.cash_target).quantize(CENT) + Decimal(rng.randrange(0, 500))
            services.transfer_in(
                account=account,
                positions=positions,
                cash=cash,
                effective_date=start,
                acting_user=user,
                idempotency_key=f"demo-transfer-{account.custodian_account_number}",
            )
            if is_drifted:
                drifted.append(account)

    _write_valuations(days, firm=demo.firm, user=user)


def _write_valuations(days: Sequence[date], *, firm: Any, user: Any) -> None:
    """Every demo account's valuation for every business day, in bulk (only the demo firm's:
    the database may hold other firms, whose books are not the demo's to value).

    The demo's holdings do not change after the opening transfer, so the value of each day
    is those holdings at the day's close; `valuation_snapshots_write` computes the same for
    any day and is what the nightly job runs.
    """
    from collections import defaultdict

    from portfolios.models import CashBalance, Position

    holdings: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    mine = {"account__household__firm": firm}
    for account_id, security_id, quantity in Position.objects.filter(**mine).values_list(
        "account_id", "security_id", "quantity"
    ):
        holdings[account_id].append((security_id, quantity))
    cash = dict(CashBalance.objects.filter(**mine).values_list("account_id", "amount"))
    closes: dict[tuple[int, date], Decimal] = {
        (s, d): c for s, d, c in Price.objects.filter(date__gte=days[0]).values_list("security_id", "date", "close")
    }
    opened = dict(InvestmentAccount.objects.filter(household__firm=firm).values_list("pk", "opened_on"))
    rows = []
    for account_id, held in holdings.items():
        for day in days:
            if day < opened[account_id]:
                continue
            mv = sum((q * closes[(s, day)] for s, q in held), Decimal(0)).quantize(CENT, rounding=ROUND_HALF_EVEN)
            flow = mv + cash.get(account_id, Decimal(0)) if day == opened[account_id] else Decimal(0)
            rows.append(
                ValuationSnapshot(
                    account_id=account_id,
                    date=day,
                    market_value=mv,
                    cash=cash.get(account_id, Decimal(0)),
                    net_external_flow=flow,
                )
            )
    bulk_create_with_history(
        rows, ValuationSnapshot, default_user=user, default_change_reason="demo valuations", batch_size=5000
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE portfolios_valuationsnapshot")


# --- Large books for benchmarks and load tests (PostgreSQL COPY) ---------------------------------

Holding = Decimal | tuple[Decimal, Decimal]  # quantity, or (quantity, cost_per_share)


def _history_from_rows(model: Any, where: str, params: Sequence[Any], *, user_id: int, reason: str) -> None:
    """The '+' history rows of `model`'s rows matching `where`, copied in SQL from the rows
    themselves: exactly what bulk_create_with_history would have written, without Python."""
    columns = [f.column for f in model._meta.concrete_fields]
    history_table = model.history.model._meta.db_table
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {history_table} ({names}, history_date, history_type, history_user_id, "  # noqa: S608 -- names from _meta  # nosec B608 -- identifiers from model _meta or code, values as parameters
            f"history_change_reason) SELECT {names}, now(), '+', %s, %s FROM {model._meta.db_table} WHERE {where}",
            [user_id, reason, *params],
        )


def bulk_book(
    *,
    households: int | Sequence[int],
    holdings: Sequence[Mapping[str, Holding]],
    cash: Decimal | Sequence[Decimal],
    acting_user: Any,
    models: int | Sequence[int | None] | None = None,
    effective_date: date | None = None,
    acquired_on: date | None = None,
    cost_per_share: Decimal = Decimal("50"),
    prefix: str = "BULK",
    account_settings: Mapping[str, Any] | None = None,
    check_foreign_keys: bool = True,
) -> list[int]:
    """Build `len(holdings)` funded accounts in bulk with PostgreSQL COPY; returns their ids in order.

    For benchmarks, load tests and `seed_scale` -- never for real clients. PostgreSQL only.

    - households: one household id for all accounts, or one per account (len(holdings)).
    - holdings: one mapping per account, symbol -> quantity (Decimal), or symbol ->
      (quantity, cost_per_share); the symbols must exist. Quantities > 0.
    - cash: the cash transferred into every account (or one amount per account), >= 0.
    - models: one model portfolio id (or None) for all accounts, or one per account.
    - effective_date: the transfer's date (default today); acquired_on: the lots' date (default
      effective_date); cost_per_share: the lots' cost where a holding gives none.
    - prefix: custodian account numbers are f"{prefix}-{n:08d}" (n = 0..): must be unused.
    - account_settings: InvestmentAccount field values for every account (e.g.
      {"drift_threshold": Decimal("0.03"), "rebalance_mode": "automatic"}), else the defaults.
    - check_foreign_keys=False -- BENCHMARK-ONLY SHORTCUT: PostgreSQL's deferred foreign-key
      checks (about 1.7 million for 10,000 x 20, run at commit) are skipped for this
      transaction (`SET LOCAL session_replication_role = replica`; needs a superuser, else it
      is ignored). Every reference is an id just read back from the database, so the rows are
      the same; the ledger still balances and verify() holds. Never on a real database.

    The book is the one the services would make, nothing skipped: accounts, their ledger
    books, ONE balanced transfer_in journal entry per call (each account's holdings and cash
    against each firm's transfers book), positions and cash balances equal to the sums of the
    postings (computed from them in SQL), one open tax lot per holding, and a history row
    ('+', acting_user, "bulk") for every row -- written in SQL from the rows themselves
    (INSERT ... SELECT) instead of through Python objects. `ledger.verify()` holds after it.
    About 10,000 accounts x 20 holdings in ~33 s on 2 busy cores (was 164 s through
    bulk_funded_accounts). For 100,000 accounts call it in slices of 10,000-20,000 with distinct
    prefixes (one entry per call; memory stays bounded), e.g.

        for n, start in enumerate(range(0, len(all_holdings), 10_000)):
            ids += bulk_book(households=household_ids[start:start + 10_000],
                             holdings=all_holdings[start:start + 10_000], cash=cash[start:start + 10_000],
                             models=model_ids[start:start + 10_000], acting_user=system_user(),
                             prefix=f"SCALE{n:02d}")
    """
    if connection.vendor != "postgresql":
        raise RuntimeError("bulk_book uses COPY: PostgreSQL only (use bulk_funded_accounts elsewhere).")
    from accounts.models import Household

    count = len(holdings)
    if count == 0:
        return []
    day = effective_date or timezone.localdate()
    lot_day = acquired_on or day
    household_ids = [households] * count if isinstance(households, int) else list(households)
    model_ids = list(models) if isinstance(models, Sequence) else [models] * count
    cash_amounts = list(cash) if isinstance(cash, Sequence) else [cash] * count
    if not (len(household_ids) == len(model_ids) == len(cash_amounts) == count):
        raise ValueError("households, models and cash must be single values or one per account.")
    if any(c < 0 for c in cash_amounts):
        raise ValueError("cash must be >= 0.")
    if InvestmentAccount.objects.filter(custodian_account_number__startswith=f"{prefix}-").exists():
        raise ValueError(f"Accounts numbered {prefix}-... exist already: choose another prefix.")
    securities = dict(Security.objects.filter(symbol__in={s for h in holdings for s in h}).values_list("symbol", "pk"))
    unknown = {s for h in holdings for s in h} - set(securities)
    if unknown:
        raise ValueError(f"Unknown symbols: {', '.join(sorted(unknown))}.")
    firm_of = dict(Household.objects.filter(pk__in=set(household_ids)).values_list("pk", "firm_id"))
    user_id = acting_user.pk
    now = timezone.now()
    defaults = {f.attname: f.get_default() for f in InvestmentAccount._meta.concrete_fields if f.has_default()}
    settings_ = {k: v.value if isinstance(v, Enum) else v for k, v in {**defaults, **(account_settings or {})}.items()}
    for key in ("id", "opened_on", "created_at", "updated_at", "household_id", "model_id", "name"):
        settings_.pop(key, None)
    setting_columns = sorted(k for k in settings_ if k != "custodian_account_number")
    account_table = InvestmentAccount._meta.db_table
    number = f"{prefix}-%"

    with transaction.atomic():
        if not check_foreign_keys:
            _skip_foreign_key_checks()
        copy_rows(
            account_table,
            [
                "household_id",
                "name",
                "custodian_account_number",
                "model_id",
                "opened_on",
                "created_at",
                "updated_at",
                *setting_columns,
            ],
            (
                (
                    household_ids[i],
                    f"{prefix} account {i + 1}",
                    f"{prefix}-{i:08d}",
                    model_ids[i],
                    day,
                    now,
                    now,
                    *(settings_[c] for c in setting_columns),
                )
                for i in range(count)
            ),
        )
        ids = _ids_of_prefix(account_table, number)
        _history_from_rows(InvestmentAccount, "id = ANY(%s)", [ids], user_id=user_id, reason="bulk")

        book_table = LedgerBook._meta.db_table
        copy_rows(
            book_table,
            ["kind", "code", "name", "account_id", "created_at"],
            (
                (LedgerBook.Kind.CLIENT.value, f"client:{a}", f"Client account {prefix}-{i:08d}", a, now)
                for i, a in enumerate(ids)
            ),
        )
        _history_from_rows(LedgerBook, "account_id = ANY(%s)", [ids], user_id=user_id, reason="bulk")
        books = dict(LedgerBook.objects.filter(account_id__in=ids).values_list("account_id", "pk"))
        sources = {firm: ledger.system_book(LedgerBook.Kind.TRANSFERS, firm=firm).pk for firm in set(firm_of.values())}

        entry = JournalEntry(
            kind=JournalEntry.Kind.TRANSFER_IN,
            memo=f"bulk transfer in ({count} accounts)",
            effective_date=day,
            created_by=acting_user,
        )
        attribute(entry, acting_user=acting_user, reason="bulk")
        entry.save()

        totals: dict[tuple[int, int | None], Decimal] = {}
        posting_rows: list[tuple[Any, ...]] = []
        lot_rows: list[tuple[Any, ...]] = []
        for i, (account_id, wanted) in enumerate(zip(ids, holdings, strict=True)):
            book = books[account_id]
            firm = firm_of[household_ids[i]]
            for symbol, value in wanted.items():
                quantity, cost = value if isinstance(value, tuple) else (value, cost_per_share)
                if quantity <= 0:
                    raise ValueError(f"Quantity of {symbol} for account {i} must be > 0.")
                security_id = securities[symbol]
                posting_rows.append((entry.pk, book, security_id, "USD", quantity))
                lot_rows.append((account_id, security_id, quantity, quantity, cost, lot_day, entry.pk))
                totals[(firm, security_id)] = totals.get((firm, security_id), Decimal(0)) + quantity
            if cash_amounts[i]:
                posting_rows.append((entry.pk, book, None, "USD", cash_amounts[i]))
                totals[(firm, None)] = totals.get((firm, None), Decimal(0)) + cash_amounts[i]
        posting_rows += [
            (entry.pk, sources[firm], security_id, "USD", -total) for (firm, security_id), total in totals.items()
        ]
        posting_table = Posting._meta.db_table
        copy_rows(posting_table, ["entry_id", "book_id", "security_id", "currency", "quantity"], posting_rows)
        _history_from_rows(Posting, "entry_id = %s", [entry.pk], user_id=user_id, reason="bulk")

        # The balances ARE the sums of the client postings (computed from them, so verify() holds).
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Position._meta.db_table} (account_id, security_id, quantity, updated_at) "  # noqa: S608  # nosec B608 -- identifiers from model _meta or code, values as parameters
                f"SELECT b.account_id, p.security_id, SUM(p.quantity), %s FROM {posting_table} p "
                f"JOIN {book_table} b ON b.id = p.book_id "
                "WHERE p.entry_id = %s AND b.account_id IS NOT NULL AND p.security_id IS NOT NULL "
                "GROUP BY b.account_id, p.security_id",
                [now, entry.pk],
            )
            cursor.execute(
                f"INSERT INTO {CashBalance._meta.db_table} (account_id, currency, amount, updated_at) "  # noqa: S608  # nosec B608 -- identifiers from model _meta or code, values as parameters
                f"SELECT b.account_id, p.currency, SUM(p.quantity), %s FROM {posting_table} p "
                f"JOIN {book_table} b ON b.id = p.book_id "
                "WHERE p.entry_id = %s AND b.account_id IS NOT NULL AND p.security_id IS NULL "
                "GROUP BY b.account_id, p.currency",
                [now, entry.pk],
            )
        _history_from_rows(Position, "account_id = ANY(%s)", [ids], user_id=user_id, reason="bulk")
        _history_from_rows(CashBalance, "account_id = ANY(%s)", [ids], user_id=user_id, reason="bulk")

        copy_rows(
            TaxLot._meta.db_table,
            ["account_id", "security_id", "quantity", "original_quantity", "cost_per_share", "acquired_on", "entry_id"],
            lot_rows,
        )
        _history_from_rows(TaxLot, "entry_id = %s", [entry.pk], user_id=user_id, reason="bulk")
        if not check_foreign_keys:
            # Back to normal for whatever else the caller's transaction does (the skipped checks
            # were decided when each row was written).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    with connection.cursor() as cursor:
        for model in (InvestmentAccount, Position, CashBalance, TaxLot, Posting):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return ids


def _skip_foreign_key_checks() -> None:
    """Benchmark-only (see bulk_book): no FK triggers until the transaction ends. Superuser only."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser')")
        if cursor.fetchone()[0] == "on":
            cursor.execute("SET LOCAL session_replication_role = replica")


def _ids_of_prefix(table: str, pattern: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE custodian_account_number LIKE %s ORDER BY custodian_account_number",  # noqa: S608  # nosec B608 -- identifiers from model _meta or code, values as parameters
            [pattern],
        )
        return [r[0] for r in cursor.fetchall()]
