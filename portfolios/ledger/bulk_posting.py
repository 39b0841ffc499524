"""Posting many entries at once (the nightly batches): the same rules as `post_entry`, a fixed
number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from kronos import bulk, readcache
from portfolios.errors import PortfoliosError
from portfolios.figures import refresh_figures
from portfolios.ledger.posting import PostingSpec, _validate
from portfolios.models import (
    ZERO,
    CashBalance,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    Position,
    Posting,
)

# --- Posting many entries at once (appended by operations, engineer F) ----------------------------


_ENTRY_KINDS = frozenset(JournalEntry.Kind.values)  # .values builds a new list on every read
POSTING_COLUMNS = ("entry_id", "book_id", "security_id", "currency", "quantity", "price")


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """One entry for `post_entries_bulk`: the arguments `post_entry` takes, minus the acting user."""

    kind: str
    postings: Sequence[PostingSpec]
    effective_date: date
    memo: str = ""
    idempotency_key: str | None = None
    reference_type: str = ""
    reference_id: str | int = ""


@dataclass(slots=True)
class BulkPosted:
    """What became of one `EntrySpec`: its entry (new, or the earlier one of its idempotency key),
    or, when refused (only with `skip_refused=True`), the reason and no entry."""

    entry: JournalEntry | None
    created: bool = False
    error: str = ""


def post_entries_bulk(
    specs: Sequence[EntrySpec],
    *,
    acting_user: User,
    allow_negative: bool = False,
    skip_refused: bool = False,
) -> list[BulkPosted]:
    """Post many balanced entries in one transaction with a fixed number of queries.

    The same rules as `post_entry`, entry by entry in the order given: each entry balances per
    asset, has no zero posting and respects the places; a client position or cash balance that
    an entry would take below zero refuses that entry (unless `allow_negative`); an
    `idempotency_key` already posted (or repeated earlier in `specs`) returns the first entry and
    posts nothing. The client accounts involved are locked once, in id order (as `post_entry`
    does, so the two never deadlock), then their balance rows; entries, postings, balance changes
    and their history rows (naming `acting_user`) are written in bulk. The history of a balance
    row gets one row per call (its value after all the call's entries), not one per entry.

    A refused entry raises `PortfoliosError` and posts nothing at all, unless `skip_refused=True`:
    then it is left out (its `BulkPosted.error` says why) and the others are posted.
    Returns one `BulkPosted` per spec, in order.
    """
    if acting_user is None:
        raise PortfoliosError("A journal entry needs the acting user.", field="acting_user")
    if not specs:
        return []
    try:
        with transaction.atomic():
            return _post_bulk(specs, acting_user=acting_user, allow_negative=allow_negative, skip_refused=skip_refused)
    except IntegrityError:
        # A concurrent call posted one of the keys first: everything here rolled back; once more,
        # the keys now found are returned as they are.
        with transaction.atomic():
            return _post_bulk(specs, acting_user=acting_user, allow_negative=allow_negative, skip_refused=skip_refused)


def _spec_error(spec: EntrySpec) -> str:
    if spec.kind not in _ENTRY_KINDS:
        return f"'{spec.kind}' is not a kind of journal entry."
    try:
        _validate(spec.postings)
    except PortfoliosError as exc:
        return exc.message
    return ""


def _post_bulk(
    specs: Sequence[EntrySpec], *, acting_user: User, allow_negative: bool, skip_refused: bool
) -> list[BulkPosted]:
    results: list[BulkPosted | None] = [None] * len(specs)
    keys = [s.idempotency_key for s in specs if s.idempotency_key]
    existing = {e.idempotency_key: e for e in JournalEntry.objects.filter(idempotency_key__in=keys)} if keys else {}
    first_of_key: dict[str, int] = {}
    todo: list[int] = []
    for i, spec in enumerate(specs):
        key = spec.idempotency_key or None
        if key and key in existing:
            results[i] = BulkPosted(entry=existing[key])
            continue
        if key and key in first_of_key:
            continue  # resolved to the first spec of the key below
        error = _spec_error(spec)
        if error:
            if not skip_refused:
                raise PortfoliosError(error, field="postings")
            results[i] = BulkPosted(entry=None, error=error)
            continue
        if key:
            first_of_key[key] = i
        todo.append(i)

    # Lock the client accounts (id order, one query), then their balance rows.
    account_ids: list[int] = sorted(
        {
            p.book.account_id
            for i in todo
            for p in specs[i].postings
            if p.book.kind == LedgerBook.Kind.CLIENT and p.book.account_id is not None
        }
    )
    positions: dict[tuple[int, int], Position] = {}
    cash: dict[tuple[int, str], CashBalance] = {}
    if account_ids:
        list(InvestmentAccount.objects.select_for_update().filter(pk__in=account_ids).order_by("pk").values_list("pk"))
        security_ids = {
            p.security.pk for i in todo for p in specs[i].postings if p.security is not None and p.book.account_id
        }
        if security_ids:
            positions = {
                (p.account_id, p.security_id): p
                for p in Position.objects.select_for_update()
                .filter(account_id__in=account_ids, security_id__in=security_ids)
                .order_by("pk")
            }
        if any(p.security is None for i in todo for p in specs[i].postings):
            cash = {
                (c.account_id, c.currency): c
                for c in CashBalance.objects.select_for_update().filter(account_id__in=account_ids).order_by("pk")
            }

    # Apply each entry's deltas in order; an entry taking a client balance below zero is refused.
    touched_positions: dict[tuple[int, int], Position] = {}
    touched_cash: dict[tuple[int, str], CashBalance] = {}
    accepted: list[int] = []
    for i in todo:
        spec = specs[i]
        position_deltas: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
        cash_deltas: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
        for p in spec.postings:
            if p.book.kind != LedgerBook.Kind.CLIENT or p.book.account_id is None:
                continue
            if p.security is not None:
                position_deltas[(p.book.account_id, p.security.pk)] += p.quantity
            else:
                cash_deltas[(p.book.account_id, p.currency)] += p.quantity
        error = ""
        if not allow_negative:
            symbols = {p.security.pk: p.security.symbol for p in spec.postings if p.security is not None}
            for pkey, delta in position_deltas.items():
                held = positions[pkey].quantity if pkey in positions else ZERO
                if delta < 0 and held + delta < 0:
                    error = f"Not enough {symbols[pkey[1]]}: the account would hold {held + delta} shares."
                    break
            if not error:
                for ckey, delta in cash_deltas.items():
                    balance = cash[ckey].amount if ckey in cash else ZERO
                    if delta < 0 and balance + delta < 0:
                        error = f"Not enough cash: the account's {ckey[1]} balance would be {balance + delta}."
                        break
        if error:
            if not skip_refused:
                raise PortfoliosError(error, field="amount")
            results[i] = BulkPosted(entry=None, error=error)
            continue
        for pkey, delta in position_deltas.items():
            if delta:
                row = positions.get(pkey) or Position(account_id=pkey[0], security_id=pkey[1], quantity=ZERO)
                positions[pkey] = row
                row.quantity += delta
                touched_positions[pkey] = row
        for ckey, delta in cash_deltas.items():
            if delta:
                crow = cash.get(ckey) or CashBalance(account_id=ckey[0], currency=ckey[1], amount=ZERO)
                cash[ckey] = crow
                crow.amount += delta
                touched_cash[ckey] = crow
        accepted.append(i)

    # Write: entries, postings, balance rows, each with history, in bulk (on PostgreSQL by COPY,
    # the history rows copied from the rows by the database: kronos.bulk).
    reason = "ledger: bulk"
    now = timezone.now()
    entries = [
        JournalEntry(
            kind=specs[i].kind,
            memo=specs[i].memo[:255],
            effective_date=specs[i].effective_date,
            created_by=acting_user,
            idempotency_key=specs[i].idempotency_key or None,
            reference_type=specs[i].reference_type,
            reference_id=str(specs[i].reference_id),
        )
        for i in accepted
    ]
    entries = bulk.create_with_history(entries, JournalEntry, acting_user=acting_user, reason=reason, now=now)
    if entries and bulk.enabled():
        books = {p.book.pk: p.book for i in accepted for p in specs[i].postings}
        scopes = readcache.scopes_of(LedgerBook, list(books.values()))
        bulk.copy_rows(
            Posting,
            bulk.check_columns(Posting, POSTING_COLUMNS, generated=["id"]),
            (
                (
                    entry.pk,
                    p.book.pk,
                    p.security.pk if p.security is not None else None,
                    p.currency,
                    p.quantity,
                    p.price,
                )
                for i, entry in zip(accepted, entries, strict=True)
                for p in specs[i].postings
            ),
            scopes=scopes,
        )
        bulk.history_from_table(
            Posting,
            where="entry_id = ANY(%s::bigint[])",
            params=[[entry.pk for entry in entries]],
            acting_user=acting_user,
            reason=reason,
            now=now,
            scopes=scopes,
        )
    elif entries:
        bulk_create_with_history(
            [p.row(entry) for i, entry in zip(accepted, entries, strict=True) for p in specs[i].postings],
            Posting,
            batch_size=5000,
            default_user=acting_user,
            default_change_reason=reason,
        )
    for i, entry in zip(accepted, entries, strict=True):
        results[i] = BulkPosted(entry=entry, created=True)
    for model, rows, field_name in (
        (Position, list(touched_positions.values()), "quantity"),
        (CashBalance, list(touched_cash.values()), "amount"),
    ):
        changed = [r for r in rows if r.pk is not None]
        created = [r for r in rows if r.pk is None]
        for r in changed:
            r.updated_at = now  # bulk_update does not apply auto_now
        if changed:
            bulk_update_rows_with_history(
                model, changed, [field_name, "updated_at"], acting_user=acting_user, reason=reason
            )
        if created:
            bulk_create_with_history(
                created, model, batch_size=2000, default_user=acting_user, default_change_reason=reason
            )
    refresh_figures({key[0] for key in touched_positions} | {key[0] for key in touched_cash})
    # A key repeated within `specs` gets its first spec's outcome.
    for i, spec in enumerate(specs):
        if results[i] is None and spec.idempotency_key:
            first = results[first_of_key[spec.idempotency_key]]
            assert first is not None
            results[i] = BulkPosted(entry=first.entry, error=first.error)
    done = [r for r in results if r is not None]
    assert len(done) == len(specs)
    return done


def bulk_update_rows_with_history(
    model: Any, rows: Sequence[Any], fields: Sequence[str], *, acting_user: User, reason: str, batch_size: int = 5000
) -> None:
    """`bulk_update_with_history` at scale: on PostgreSQL the values COPYed into a temporary table
    and one UPDATE from it, instead of Django's CASE WHEN per row (which costs milliseconds a
    row), then the '~' history rows copied from the updated rows by the database
    (`kronos.bulk.update_with_history`); elsewhere simple_history's `bulk_update_with_history`."""
    if not rows:
        return
    if bulk.enabled():
        bulk.update_with_history(model, rows, fields, acting_user=acting_user, reason=reason)
        return
    bulk_update_with_history(
        list(rows), model, list(fields), batch_size=batch_size, default_user=acting_user, default_change_reason=reason
    )
