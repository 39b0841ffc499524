"""Large funded books in bulk, for tests, benchmarks and load tests -- never for real clients.

`bulk_funded_accounts()` builds many funded accounts through ONE ledger entry (any database);
`bulk_book()` builds them with PostgreSQL COPY, history rows written in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import Household, User
from kronos.history import attribute
from kronos.readcache import copy_rows
from portfolios import ledger
from portfolios.ledger import PostingSpec
from portfolios.models import (
    CashBalance,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    ModelPortfolio,
    Position,
    Posting,
    Security,
    TaxLot,
)


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
    acting_user: User,
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
    acting_user: User,
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
