"""The double-entry ledger: the ONLY way cash and securities move.

Interface (for trading: fills, settlement, deposits, withdrawals, fees)::

    from portfolios import ledger
    from portfolios.ledger import PostingSpec

    entry = ledger.post_entry(
        kind=JournalEntry.Kind.DEPOSIT,            # opening_balance, transfer_in, deposit, withdrawal,
                                                  # trade, settlement, fee, dividend, adjustment, ...
        postings=[
            PostingSpec.cash(ledger.client_book(account), Decimal("500.00")),
            PostingSpec.cash(ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK, firm=firm), Decimal("-500.00")),
        ],
        effective_date=date.today(),
        memo="ACH deposit",
        acting_user=user,                         # a User; jobs pass accounts.services.system_user()
        idempotency_key="deposit:42",             # optional; a retry with the same key returns the first entry
        reference_type="trading.transfer", reference_id="42",
        allow_negative=False,                     # True lets a client position/cash go below zero
    )

A buy fill of 10 AAPL at 150 for an account is, for example::

    PostingSpec.shares(client_book(account), aapl, Decimal("10"), price=Decimal("150")),
    PostingSpec.shares(system_book(LedgerBook.Kind.MARKET), aapl, Decimal("-10"), price=Decimal("150")),
    PostingSpec.cash(client_book(account), Decimal("-1500.00")),
    PostingSpec.cash(system_book(LedgerBook.Kind.CUSTODIAN_CLEARING, firm=firm), Decimal("1500.00")),

(trading decides whether cash moves at the fill or at settlement). Tax lots are kept by
`portfolios.services.lot_open` / `lots_relieve`, called by trading beside the entry.

What `post_entry` guarantees, in one `transaction.atomic()`:
- the postings of the entry sum to zero per asset (per security, and per currency for
  cash); no posting is zero; cash amounts have at most 2 decimal places and share
  quantities at most 9;
- the client accounts touched are locked (`select_for_update`, in id order so two entries
  never deadlock), then their `Position` / `CashBalance` rows are changed by exactly the
  postings' sums, with history rows naming `acting_user`;
- a debit that would take a client position or cash balance below zero refuses the whole
  entry with `PortfoliosError`, unless `allow_negative=True`; a credit is always taken (it
  only brings a balance that is already short, e.g. after a buy filled above its
  reservation, back towards zero);
- with an `idempotency_key`, a retry (even a concurrent one) returns the first entry and
  posts nothing.

`verify()` proves the materialised balances equal the postings and every entry balances;
`python manage.py check_ledger` runs it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from kronos.history import attribute
from portfolios.errors import PortfoliosError
from portfolios.models import (
    CASH_PLACES,
    QUANTITY_PLACES,
    ZERO,
    CashBalance,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    Position,
    Posting,
    Security,
)


@dataclass(frozen=True, slots=True)
class PostingSpec:
    """One leg to post: `quantity` of a security (shares) or of cash (`security=None`, an amount)."""

    book: LedgerBook
    quantity: Decimal
    security: Security | None = None
    currency: str = "USD"
    price: Decimal | None = None

    @classmethod
    def cash(cls, book: LedgerBook, amount: Decimal, currency: str = "USD") -> PostingSpec:
        return cls(book=book, quantity=Decimal(amount), security=None, currency=currency)

    @classmethod
    def shares(
        cls, book: LedgerBook, security: Security, quantity: Decimal, *, price: Decimal | None = None
    ) -> PostingSpec:
        return cls(book=book, quantity=Decimal(quantity), security=security, currency=security.currency, price=price)

    @property
    def asset(self) -> str:
        return self.security.symbol if self.security is not None else f"cash {self.currency}"


# --- Books --------------------------------------------------------------------------------------


def client_book(account: InvestmentAccount) -> LedgerBook:
    """The account's book, created on first use."""
    book = getattr(account, "_ledger_book", None)
    if book is None:
        book, _ = LedgerBook.objects.get_or_create(
            account=account,
            defaults={
                "kind": LedgerBook.Kind.CLIENT,
                "code": f"client:{account.pk}",
                "name": f"Client account {account.custodian_account_number or f'#{account.pk}'}",
            },
        )
        account._ledger_book = book  # type: ignore[attr-defined]
    return book


def system_book(kind: str, *, firm: Any = None) -> LedgerBook:
    """A firm's (or, without a firm, the platform's) book of a non-client kind, created on first use."""
    if kind == LedgerBook.Kind.CLIENT:
        raise PortfoliosError("A client book belongs to an account: use client_book(account).", field="kind")
    firm_id = getattr(firm, "pk", firm)
    code = f"{kind}:{firm_id or 'platform'}"
    book, _ = LedgerBook.objects.get_or_create(
        code=code,
        defaults={"kind": kind, "firm_id": firm_id, "name": f"{LedgerBook.Kind(kind).label} ({firm or 'platform'})"},
    )
    return book


def client_books(accounts: Iterable[InvestmentAccount]) -> dict[int, LedgerBook]:
    """The books of many accounts (account id -> book), creating missing ones, in two queries."""
    accounts = list(accounts)
    found = {b.account_id: b for b in LedgerBook.objects.filter(account_id__in=[a.pk for a in accounts])}
    missing = [
        LedgerBook(
            kind=LedgerBook.Kind.CLIENT,
            code=f"client:{a.pk}",
            name=f"Client account {a.custodian_account_number or f'#{a.pk}'}",
            account=a,
        )
        for a in accounts
        if a.pk not in found
    ]
    if missing:
        bulk_create_with_history(missing, LedgerBook)
        found.update({b.account_id: b for b in LedgerBook.objects.filter(account__in=[m.account for m in missing])})
    return found  # type: ignore[return-value]


# --- Posting ------------------------------------------------------------------------------------


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _validate(postings: Sequence[PostingSpec]) -> None:
    if len(postings) < 2:
        raise PortfoliosError("A journal entry needs at least two postings.", field="postings")
    sums: dict[tuple[int | None, str], Decimal] = defaultdict(lambda: ZERO)
    names: dict[tuple[int | None, str], str] = {}
    for spec in postings:
        if not isinstance(spec.quantity, Decimal) or not spec.quantity.is_finite():
            raise PortfoliosError(f"The quantity of {spec.asset} is not a number.", field="postings")
        if spec.quantity == 0:
            raise PortfoliosError(f"A posting of {spec.asset} is zero.", field="postings")
        if spec.book.pk is None:
            raise PortfoliosError("A posting's book is not saved.", field="postings")
        if len(spec.currency) != 3 or not spec.currency.isalpha() or not spec.currency.isupper():
            raise PortfoliosError(f"'{spec.currency}' is not a currency code.", field="postings")
        if spec.security is None and _places(spec.quantity) > CASH_PLACES:
            raise PortfoliosError(
                f"The cash amount {spec.quantity} has more than {CASH_PLACES} decimal places.", field="postings"
            )
        if spec.security is not None and _places(spec.quantity) > QUANTITY_PLACES:
            raise PortfoliosError(
                f"The quantity {spec.quantity} of {spec.asset} has more than {QUANTITY_PLACES} decimal places.",
                field="postings",
            )
        key = (spec.security.pk if spec.security else None, spec.currency if spec.security is None else "")
        sums[key] += spec.quantity
        names[key] = spec.asset
    unbalanced = [f"{names[k]} by {v}" for k, v in sums.items() if v != 0]
    if unbalanced:
        raise PortfoliosError(f"The entry does not balance: {', '.join(unbalanced)}.", field="postings")


def post_entry(
    *,
    kind: str,
    postings: Sequence[PostingSpec],
    effective_date: date,
    acting_user: Any,
    memo: str = "",
    idempotency_key: str | None = None,
    reference_type: str = "",
    reference_id: str | int = "",
    reverses: JournalEntry | None = None,
    allow_negative: bool = False,
) -> JournalEntry:
    """Post one balanced entry and move the client balances it touches (see the module docstring)."""
    if idempotency_key:
        existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    if kind not in JournalEntry.Kind.values:
        raise PortfoliosError(f"'{kind}' is not a kind of journal entry.", field="kind")
    if acting_user is None:
        raise PortfoliosError("A journal entry needs the acting user.", field="acting_user")
    _validate(postings)
    try:
        with transaction.atomic():
            return _post(
                kind=kind,
                postings=postings,
                effective_date=effective_date,
                acting_user=acting_user,
                memo=memo,
                idempotency_key=idempotency_key or None,
                reference_type=reference_type,
                reference_id=str(reference_id),
                reverses=reverses,
                allow_negative=allow_negative,
            )
    except IntegrityError:
        # A concurrent retry with the same key committed first: return its entry.
        if idempotency_key:
            existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing
        raise


def _post(
    *,
    kind: str,
    postings: Sequence[PostingSpec],
    effective_date: date,
    acting_user: Any,
    memo: str,
    idempotency_key: str | None,
    reference_type: str,
    reference_id: str,
    reverses: JournalEntry | None,
    allow_negative: bool,
) -> JournalEntry:
    entry = JournalEntry(
        kind=kind,
        memo=memo[:255],
        effective_date=effective_date,
        created_by=acting_user,
        idempotency_key=idempotency_key,
        reference_type=reference_type,
        reference_id=reference_id,
        reverses=reverses,
    )
    attribute(entry, acting_user=acting_user, reason=f"ledger: {kind}")
    entry.save()
    bulk_create_with_history(
        [
            Posting(
                entry=entry,
                book=spec.book,
                security=spec.security,
                currency=spec.currency,
                quantity=spec.quantity,
                price=spec.price,
            )
            for spec in postings
        ],
        Posting,
        default_user=acting_user,
        default_change_reason=f"ledger: {kind}",
    )

    position_deltas: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    cash_deltas: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    for spec in postings:
        if spec.book.kind != LedgerBook.Kind.CLIENT:
            continue
        account_id = spec.book.account_id
        assert account_id is not None
        if spec.security is not None:
            position_deltas[(account_id, spec.security.pk)] += spec.quantity
        else:
            cash_deltas[(account_id, spec.currency)] += spec.quantity
    account_ids = sorted({a for a, _ in position_deltas} | {a for a, _ in cash_deltas})
    if account_ids:
        # Lock the accounts first, in id order: serialises every ledger write per account
        # (so missing balance rows can be created safely) and never deadlocks.
        list(InvestmentAccount.objects.select_for_update().filter(pk__in=account_ids).order_by("pk").values_list("pk"))
        symbols = {spec.security.pk: spec.security.symbol for spec in postings if spec.security is not None}
        _apply_positions(
            position_deltas, symbols=symbols, acting_user=acting_user, kind=kind, allow_negative=allow_negative
        )
        _apply_cash(cash_deltas, acting_user=acting_user, kind=kind, allow_negative=allow_negative)
    return entry


def _apply_positions(
    deltas: dict[tuple[int, int], Decimal],
    *,
    symbols: dict[int, str],
    acting_user: Any,
    kind: str,
    allow_negative: bool,
) -> None:
    deltas = {k: v for k, v in deltas.items() if v != 0}
    if not deltas:
        return
    account_ids = {a for a, _ in deltas}
    security_ids = {s for _, s in deltas}
    rows = {
        (p.account_id, p.security_id): p
        # Ordered by pk: the model's default ordering would join (and so lock) the account's
        # household and the security too, making fills on different accounts queue and deadlock.
        for p in Position.objects.select_for_update()
        .filter(account_id__in=account_ids, security_id__in=security_ids)
        .order_by("pk")
    }
    changed, created = [], []
    for key, delta in deltas.items():
        row = rows.get(key)
        if row is None:
            row = Position(account_id=key[0], security_id=key[1], quantity=ZERO)
            created.append(row)
        else:
            changed.append(row)
        row.quantity += delta
        if delta < 0 and row.quantity < 0 and not allow_negative:
            raise PortfoliosError(
                f"Not enough {symbols[key[1]]}: the account would hold {row.quantity} shares.", field="quantity"
            )
    reason = f"ledger: {kind}"
    if changed:
        bulk_update_with_history(
            changed, Position, ["quantity", "updated_at"], default_user=acting_user, default_change_reason=reason
        )
    if created:
        bulk_create_with_history(created, Position, default_user=acting_user, default_change_reason=reason)


def _apply_cash(deltas: dict[tuple[int, str], Decimal], *, acting_user: Any, kind: str, allow_negative: bool) -> None:
    deltas = {k: v for k, v in deltas.items() if v != 0}
    if not deltas:
        return
    account_ids = {a for a, _ in deltas}
    rows = {
        (c.account_id, c.currency): c
        for c in CashBalance.objects.select_for_update().filter(account_id__in=account_ids).order_by("pk")
    }
    changed, created = [], []
    for key, delta in deltas.items():
        row = rows.get(key)
        if row is None:
            row = CashBalance(account_id=key[0], currency=key[1], amount=ZERO)
            created.append(row)
        else:
            changed.append(row)
        row.amount += delta
        if delta < 0 and row.amount < 0 and not allow_negative:
            raise PortfoliosError(
                f"Not enough cash: the account's {key[1]} balance would be {row.amount}.", field="amount"
            )
    reason = f"ledger: {kind}"
    if changed:
        bulk_update_with_history(
            changed, CashBalance, ["amount", "updated_at"], default_user=acting_user, default_change_reason=reason
        )
    if created:
        bulk_create_with_history(created, CashBalance, default_user=acting_user, default_change_reason=reason)


# --- Reading and checking -----------------------------------------------------------------------


def book_balance(book: LedgerBook, *, security: Security | None = None, currency: str = "USD") -> Decimal:
    """The sum of a book's postings of one asset (any book, client or not)."""
    qs = Posting.objects.filter(book=book, security=security)
    if security is None:
        qs = qs.filter(currency=currency)
    return qs.aggregate(total=Sum("quantity"))["total"] or ZERO


def verify() -> list[str]:
    """Every difference between the postings and the balances, and every unbalanced entry (empty = consistent)."""
    problems: list[str] = []
    unbalanced = (
        Posting.objects.values("entry_id", "security__symbol", "currency")
        .annotate(total=Sum("quantity"))
        .exclude(total=0)
        .order_by("entry_id")
    )
    for row in unbalanced:
        asset = row["security__symbol"] or f"cash {row['currency']}"
        problems.append(f"entry {row['entry_id']}: {asset} postings sum to {row['total']}, not 0")

    client = Posting.objects.filter(book__kind=LedgerBook.Kind.CLIENT)
    posted_positions = {
        (r["book__account_id"], r["security_id"]): r["total"]
        for r in client.filter(security__isnull=False)
        .values("book__account_id", "security_id")
        .annotate(total=Sum("quantity"))
    }
    held = {(p["account_id"], p["security_id"]): p["quantity"] for p in Position.objects.values()}
    symbols = dict(Security.objects.values_list("pk", "symbol"))
    for key in sorted(set(posted_positions) | set(held)):
        posted, holding = posted_positions.get(key, ZERO), held.get(key, ZERO)
        if posted != holding:
            problems.append(
                f"account {key[0]} {symbols.get(key[1], key[1])}: position {holding} but postings sum to {posted}"
            )

    posted_cash = {
        (r["book__account_id"], r["currency"]): r["total"]
        for r in client.filter(security__isnull=True)
        .values("book__account_id", "currency")
        .annotate(total=Sum("quantity"))
    }
    balances = {(c["account_id"], c["currency"]): c["amount"] for c in CashBalance.objects.values()}
    for cash_key in sorted(set(posted_cash) | set(balances)):
        posted, balance = posted_cash.get(cash_key, ZERO), balances.get(cash_key, ZERO)
        if posted != balance:
            problems.append(f"account {cash_key[0]} cash {cash_key[1]}: balance {balance} but postings sum to {posted}")
    return problems


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
    acting_user: Any,
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
    specs: Sequence[EntrySpec], *, acting_user: Any, allow_negative: bool, skip_refused: bool
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
    # the history rows copied from the rows by the database: portfolios.bulk).
    from django.utils import timezone as django_timezone

    from portfolios import bulk

    reason = "ledger: bulk"
    now = django_timezone.now()
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
        )
        bulk.history_from_table(
            Posting,
            where="entry_id = ANY(%s::bigint[])",
            params=[[entry.pk for entry in entries]],
            acting_user=acting_user,
            reason=reason,
            now=now,
        )
    elif entries:
        bulk_create_with_history(
            [
                Posting(
                    entry=entry,
                    book=p.book,
                    security=p.security,
                    currency=p.currency,
                    quantity=p.quantity,
                    price=p.price,
                )
                for i, entry in zip(accepted, entries, strict=True)
                for p in specs[i].postings
            ],
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
    model: Any, rows: Sequence[Any], fields: Sequence[str], *, acting_user: Any, reason: str, batch_size: int = 5000
) -> None:
    """`bulk_update_with_history` at scale: on PostgreSQL the values COPYed into a temporary table
    and one UPDATE from it, instead of Django's CASE WHEN per row (which costs milliseconds a
    row), then the '~' history rows copied from the updated rows by the database
    (`portfolios.bulk.update_with_history`); elsewhere simple_history's `bulk_update_with_history`."""
    from portfolios import bulk

    if not rows:
        return
    if bulk.enabled():
        bulk.update_with_history(model, rows, fields, acting_user=acting_user, reason=reason)
        return
    bulk_update_with_history(
        list(rows), model, list(fields), batch_size=batch_size, default_user=acting_user, default_change_reason=reason
    )
