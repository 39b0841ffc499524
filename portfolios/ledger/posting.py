"""Posting one balanced entry: validation, the entry and its postings, and the client balances
it moves (see `portfolios.ledger` for the guarantees)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Field
from simple_history.utils import bulk_create_with_history, bulk_update_with_history, get_history_manager_for_model

from accounts.models import User
from kronos.db import create_or_winner
from kronos.history import attribute
from portfolios.errors import PortfoliosError
from portfolios.figures import refresh_figures
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
from portfolios.selectors.figures import FigureInput


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

    def row(self, entry: JournalEntry) -> Posting:
        """The posting row of this spec in `entry` (unsaved)."""
        return Posting(
            entry=entry,
            book=self.book,
            security=self.security,
            currency=self.currency,
            quantity=self.quantity,
            price=self.price,
        )

    @property
    def asset(self) -> str:
        return self.security.symbol if self.security is not None else f"cash {self.currency}"


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
    acting_user: User,
    memo: str = "",
    idempotency_key: str | None = None,
    reference_type: str = "",
    reference_id: str | int = "",
    reverses: JournalEntry | None = None,
    allow_negative: bool = False,
    locked: bool = False,
) -> JournalEntry:
    """Post one balanced entry and move the client balances it touches (see the module docstring).

    `locked`: the caller holds, in its transaction, the locks that make the entry safe without
    this function's own -- it has locked (`select_for_update`) the client accounts the postings
    touch, and under that lock found `idempotency_key` unused (a fill: its order and account
    locked, its execution id new). Then the key is not looked up first, the accounts are not
    locked again and no savepoint is taken: a duplicate key is an IntegrityError that rolls the
    caller back, and so is any refusal."""
    if idempotency_key and not locked:
        existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    if kind not in JournalEntry.Kind.values:
        raise PortfoliosError(f"'{kind}' is not a kind of journal entry.", field="kind")
    if acting_user is None:
        raise PortfoliosError("A journal entry needs the acting user.", field="acting_user")
    _validate(postings)

    post = functools.partial(
        _post,
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
    if locked:
        with transaction.atomic(savepoint=False):
            return post(lock_accounts=False)

    def winner() -> JournalEntry | None:
        # A concurrent retry with the same key committed first: its entry is the answer.
        return JournalEntry.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None

    return create_or_winner(lambda: post(lock_accounts=True), winner)


def _post(
    *,
    kind: str,
    postings: Sequence[PostingSpec],
    effective_date: date,
    acting_user: User,
    memo: str,
    idempotency_key: str | None,
    reference_type: str,
    reference_id: str,
    reverses: JournalEntry | None,
    allow_negative: bool,
    lock_accounts: bool,
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
        [spec.row(entry) for spec in postings],
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
        if lock_accounts:
            # Lock the accounts first, in id order: serialises every ledger write per account
            # (so missing balance rows can be created safely) and never deadlocks.
            list(
                InvestmentAccount.objects.select_for_update()
                .filter(pk__in=account_ids)
                .order_by("pk")
                .values_list("pk")
            )
        symbols = {spec.security.pk: spec.security.symbol for spec in postings if spec.security is not None}
        _apply_balances(
            POSITIONS,
            position_deltas,
            short=lambda key, held: f"Not enough {symbols[key[1]]}: the account would hold {held} shares.",
            acting_user=acting_user,
            kind=kind,
            allow_negative=allow_negative,
        )
        _apply_balances(
            CASH,
            cash_deltas,
            short=lambda key, balance: f"Not enough cash: the account's {key[1]} balance would be {balance}.",
            acting_user=acting_user,
            kind=kind,
            allow_negative=allow_negative,
        )
        # The accounts' kept figures move with their balances. Under the caller's locks, the
        # accounts it read with their model (locked, so current) need not be read again.
        refresh_figures(account_ids, inputs=_locked_inputs(postings) if not lock_accounts else ())
    return entry


def _locked_inputs(postings: Sequence[PostingSpec]) -> list[FigureInput]:
    """The `FigureInput`s of the client accounts the postings' books carry loaded with their model
    (`books_for` gives the client book its account), by account."""
    accounts = {}
    for spec in postings:
        book = spec.book
        if book.kind != LedgerBook.Kind.CLIENT or not LedgerBook.account.is_cached(book):  # type: ignore[attr-defined]
            continue
        account = book.account
        if account is None or (account.model_id is not None and not InvestmentAccount.model.is_cached(account)):  # type: ignore[attr-defined]
            continue
        accounts[account.pk] = account
    return [FigureInput.of(account) for account in accounts.values()]


@dataclass(frozen=True, slots=True)
class _Balances:
    """A kind of client balance row the ledger materialises: positions (shares per security) or
    cash balances (an amount per currency), keyed by (account id, `key`)."""

    model: type[Position] | type[CashBalance]
    key: str
    amount: str

    def new_row(self, account_id: int, key: Any) -> Position | CashBalance:
        return self.model(account_id=account_id, **{self.key: key, self.amount: ZERO})  # type: ignore[misc]


POSITIONS = _Balances(Position, key="security_id", amount="quantity")
CASH = _Balances(CashBalance, key="currency", amount="amount")


def _apply_balances(
    balances: _Balances,
    deltas: dict[tuple[int, Any], Decimal],
    *,
    short: Callable[[tuple[int, Any], Decimal], str],
    acting_user: User,
    kind: str,
    allow_negative: bool,
) -> None:
    """Move the balance rows by `deltas`, creating missing rows; a debit taking a row below zero
    refuses the entry with `short(key, new amount)` unless `allow_negative`."""
    deltas = {k: v for k, v in deltas.items() if v != 0}
    if not deltas:
        return
    if connection.vendor == "postgresql":
        _add_in_place(balances, deltas, short=short, acting_user=acting_user, kind=kind, allow_negative=allow_negative)
        return
    rows = {
        (row.account_id, getattr(row, balances.key)): row
        # Ordered by pk: the model's default ordering would join (and so lock) the account's
        # household and the security too, making fills on different accounts queue and deadlock.
        for row in balances.model.objects.select_for_update()  # type: ignore[attr-defined]
        .filter(account_id__in={a for a, _ in deltas}, **{f"{balances.key}__in": {k for _, k in deltas}})
        .order_by("pk")
    }
    changed, created = [], []
    for key, delta in deltas.items():
        row = rows.get(key)
        if row is None:
            row = balances.new_row(*key)
            created.append(row)
        else:
            changed.append(row)
        amount = getattr(row, balances.amount) + delta
        setattr(row, balances.amount, amount)
        if delta < 0 and amount < 0 and not allow_negative:
            raise PortfoliosError(short(key, amount), field=balances.amount)
    reason = f"ledger: {kind}"
    if changed:
        bulk_update_with_history(
            changed,
            balances.model,
            [balances.amount, "updated_at"],
            default_user=acting_user,
            default_change_reason=reason,
        )
    if created:
        bulk_create_with_history(created, balances.model, default_user=acting_user, default_change_reason=reason)


def _add_in_place(
    balances: _Balances,
    deltas: dict[tuple[int, Any], Decimal],
    *,
    short: Callable[[tuple[int, Any], Decimal], str],
    acting_user: User,
    kind: str,
    allow_negative: bool,
) -> None:
    """`_apply_balances` on PostgreSQL: the existing rows locked, moved and read back in one
    UPDATE ... RETURNING (not a locking read and then an update), the missing ones created.
    Rows, values (`updated_at` untouched, as a bulk update leaves it) and history rows are the
    same; a refused debit raises after the statement, and the caller's transaction (or the
    entry's savepoint) rolls it back with the rest of the entry."""
    model = balances.model
    meta = model._meta
    qn = connection.ops.quote_name
    key_field, amount_field = meta.get_field(balances.key), meta.get_field(balances.amount)
    assert isinstance(key_field, Field) and isinstance(amount_field, Field)
    key, amount = qn(str(key_field.column)), qn(str(amount_field.column))
    attnames = [f.attname for f in meta.concrete_fields]
    returning = ", ".join(f"t.{qn(str(f.column))}" for f in meta.concrete_fields)
    values = ", ".join(f"(%s::bigint, %s::{key_field.cast_db_type(connection)}, %s::numeric)" for _ in deltas)
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {amount} = t.{amount} + v.delta "  # noqa: S608 (identifiers from the model's _meta)  # nosec B608 -- values as parameters
        f"FROM (VALUES {values}) AS v(account_id, key, delta) "
        f"WHERE t.account_id = v.account_id AND t.{key} = v.key RETURNING {returning}"
    )
    params: list[Any] = [p for (account_id, k), delta in deltas.items() for p in (account_id, k, delta)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    rows: dict[tuple[int, Any], Position | CashBalance] = {}
    for values_row in returned:
        row = model.from_db(connection.alias, attnames, values_row)
        rows[(row.account_id, getattr(row, balances.key))] = row
    changed: list[Position | CashBalance] = []
    created: list[Position | CashBalance] = []
    for row_key, delta in deltas.items():
        found = rows.get(row_key)
        if found is None:
            found = balances.new_row(*row_key)
            setattr(found, balances.amount, getattr(found, balances.amount) + delta)
            created.append(found)
        else:
            changed.append(found)
        moved = getattr(found, balances.amount)
        if delta < 0 and moved < 0 and not allow_negative:
            raise PortfoliosError(short(row_key, moved), field=balances.amount)
    reason = f"ledger: {kind}"
    if changed:
        get_history_manager_for_model(model).bulk_history_create(
            changed, update=True, default_user=acting_user, default_change_reason=reason
        )
    if created:
        bulk_create_with_history(created, model, default_user=acting_user, default_change_reason=reason)
