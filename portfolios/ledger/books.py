"""The ledger's books (one per client account, the firm's system books), their balances, and
the check that the materialised balances equal the postings."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from simple_history.utils import bulk_create_with_history

from portfolios.errors import PortfoliosError
from portfolios.models import (
    ZERO,
    CashBalance,
    InvestmentAccount,
    LedgerBook,
    Position,
    Posting,
    Security,
)

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


def books_for(account: InvestmentAccount, *kinds: str, firm: Any) -> tuple[LedgerBook, ...]:
    """The account's book and the firm's system books of `kinds`, in that order: one query when
    they exist (a fill's three books), each missing one created as `client_book`/`system_book` do."""
    firm_id = getattr(firm, "pk", firm)
    codes = [f"{kind}:{firm_id or 'platform'}" for kind in kinds]
    cached = getattr(account, "_ledger_book", None)
    found = {
        (b.account_id or b.code): b
        for b in LedgerBook.objects.filter(code__in=codes if cached else [*codes, f"client:{account.pk}"])
    }
    client = cached or found.get(account.pk) or client_book(account)
    client.account = account  # the same row: the book's readers need not fetch it again
    account._ledger_book = client  # type: ignore[attr-defined]
    return (client, *(found.get(code) or system_book(kind, firm=firm) for kind, code in zip(kinds, codes, strict=True)))


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
