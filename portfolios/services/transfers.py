"""Transfers in: holdings and cash brought into an account from another custodian."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger.posting import PostingSpec
from portfolios.models import (
    ZERO,
    InvestmentAccount,
    JournalEntry,
    LedgerBook,
    Security,
    TaxLot,
)
from portfolios.services.common import COST_QUANTUM, parse_decimal, to_cents

# --- Transfers in and tax lots ------------------------------------------------------------------


@transaction.atomic
def transfer_in(
    *,
    account: InvestmentAccount,
    acting_user: User,
    idempotency_key: str,
    positions: Sequence[Mapping[str, Any]] = (),
    cash: Any = None,
    effective_date: date | None = None,
    memo: str = "Transfer in",
) -> JournalEntry:
    """Bring holdings and cash into an account from outside (another custodian).

    `positions` is a list of {symbol, quantity, cost_basis (the lot's total cost),
    acquired_on}; a symbol may appear several times (several lots). `cash` is a Money or a
    Decimal in the account's currency. One journal entry (kind transfer_in, against the
    firm's transfers book) plus one tax lot per position; a retry with the same
    `idempotency_key` returns the first entry and changes nothing.
    """
    existing = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if not idempotency_key:
        raise PortfoliosError("An idempotency key is required.", field="idempotency_key")
    account = InvestmentAccount.objects.select_related("household").get(pk=account.pk)
    if account.status == InvestmentAccount.Status.CLOSED:
        raise PortfoliosError("The account is closed.", field="account")
    day = effective_date or timezone.localdate()
    if day > timezone.localdate():
        raise PortfoliosError(f"The date {day} is in the future.", field="effective_date")
    symbols = {str(p.get("symbol", "")).strip().upper() for p in positions}
    securities = {s.symbol: s for s in Security.objects.filter(symbol__in=symbols)}
    unknown = sorted(symbols - set(securities))
    if unknown:
        raise PortfoliosError(f"Unknown symbol: {', '.join(unknown)}.", field="positions")
    lots = []
    for i, p in enumerate(positions, start=1):
        symbol = str(p["symbol"]).strip().upper()
        quantity = parse_decimal(p.get("quantity"), field="positions", what=f"The quantity of {symbol}")
        if quantity <= 0:
            raise PortfoliosError(f"Position {i}: the quantity of {symbol} must be positive.", field="positions")
        if "cost_per_share" in p:
            cost_per_share = parse_decimal(p["cost_per_share"], field="positions", what=f"The cost of {symbol}")
        else:
            basis = parse_decimal(p.get("cost_basis", 0), field="positions", what=f"The cost basis of {symbol}")
            cost_per_share = (basis / quantity).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)
        if cost_per_share < 0:
            raise PortfoliosError(f"Position {i}: the cost basis of {symbol} cannot be negative.", field="positions")
        acquired = p.get("acquired_on") or day
        if not isinstance(acquired, date):
            acquired = date.fromisoformat(str(acquired))
        if acquired > day:
            raise PortfoliosError(f"Position {i}: {symbol} cannot be acquired after the transfer.", field="positions")
        lots.append((securities[symbol], quantity, cost_per_share, acquired))
    cash_amount = ZERO
    if cash is not None:
        currency = getattr(getattr(cash, "currency", None), "code", None) or account.base_currency
        if currency != account.base_currency:
            raise PortfoliosError(f"Cash must be in {account.base_currency}.", field="cash")
        cash_amount = parse_decimal(getattr(cash, "amount", cash), field="cash", what="The cash")
        if cash_amount < 0:
            raise PortfoliosError("The cash transferred in cannot be negative.", field="cash")
        if cash_amount != to_cents(cash_amount):
            raise PortfoliosError("The cash has more than 2 decimal places.", field="cash")
    if not lots and cash_amount == 0:
        raise PortfoliosError("Nothing to transfer: give positions or cash.", field="positions")

    book = ledger.client_book(account)
    source = ledger.system_book(LedgerBook.Kind.TRANSFERS, firm=account.household.firm_id)
    postings: list[PostingSpec] = []
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for security, quantity, _cost, _acquired in lots:
        totals[security.pk] += quantity
    for security_id, quantity in totals.items():
        security = next(s for s in securities.values() if s.pk == security_id)
        postings += [PostingSpec.shares(book, security, quantity), PostingSpec.shares(source, security, -quantity)]
    if cash_amount:
        postings += [
            PostingSpec.cash(book, cash_amount, account.base_currency),
            PostingSpec.cash(source, -cash_amount, account.base_currency),
        ]
    entry = ledger.post_entry(
        kind=JournalEntry.Kind.TRANSFER_IN,
        postings=postings,
        effective_date=day,
        memo=memo,
        acting_user=acting_user,
        idempotency_key=idempotency_key,
        reference_type="portfolios.account",
        reference_id=account.pk,
    )
    if entry.lots.exists():  # a concurrent retry won the race and made the lots
        return entry
    bulk_create_with_history(
        [
            TaxLot(
                account=account,
                security=security,
                quantity=quantity,
                original_quantity=quantity,
                cost_per_share=cost,
                acquired_on=acquired,
                entry=entry,
            )
            for security, quantity, cost, acquired in lots
        ],
        TaxLot,
        default_user=acting_user,
        default_change_reason="transfer in",
    )
    return entry
