"""Reconciliation: our books against the custodian's statements, and resolving the breaks.

Money moves only through `portfolios.ledger.post_entry` (one adjustment entry for a resolved
break, against the firm's suspense book).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from accounts.services import EventSpec, events_emit_bulk
from kronos.history import save_attributed
from operations.errors import OperationsError
from operations.jobs import ChunkOutcome
from operations.models import ReconciliationBreak
from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger import PostingSpec
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook, Posting, Security
from trading.adapters.custodian import CustodianError, get_custodian

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CASH_PREFIX = "CASH:"


def book_holdings_as_of(*, account_ids: Sequence[int], as_of: date) -> dict[int, dict[str, Decimal]]:
    """Our books per account as of a day's end: {asset: quantity}, assets are symbols or CASH:<ccy>.

    One query for any number of accounts: the sums of client-book postings effective on or
    before `as_of` (the materialised balances are today's; a statement is as of a date).
    """
    holdings: dict[int, dict[str, Decimal]] = {a: {} for a in account_ids}
    rows = (
        Posting.objects.filter(
            book__kind=LedgerBook.Kind.CLIENT, book__account_id__in=account_ids, entry__effective_date__lte=as_of
        )
        .values_list("book__account_id", "security__symbol", "currency")
        .annotate(total=Sum("quantity"))
        .order_by()
    )
    for account_id, symbol, currency, total in rows:
        if total:
            holdings[account_id][symbol or f"{CASH_PREFIX}{currency}"] = total
    return holdings


def _statement_holdings(statement: Any, currency: str) -> dict[str, Decimal]:
    theirs = {symbol.upper(): Decimal(q) for symbol, q in statement.positions.items() if Decimal(q) != 0}
    if Decimal(statement.cash) != 0:
        theirs[f"{CASH_PREFIX}{currency}"] = Decimal(statement.cash)
    return theirs


def reconcile_accounts(
    *, account_ids: Sequence[int], business_date: date, acting_user: User, custodian: Any = None
) -> ChunkOutcome:
    """Compare our books with the custodian's statement for each account as of `business_date`;
    record every difference as an open `ReconciliationBreak` (once per account, day and asset).

    The statements come in one positions-and-balances file for the chunk when the custodian
    offers one (`statements`); an account the file leaves out, or every account when the file
    cannot be had, is asked for on its own. A custodian error for one account is recorded
    against it; the others go on.
    """
    custodian = custodian or get_custodian()
    outcome = ChunkOutcome()
    accounts = list(InvestmentAccount.objects.filter(pk__in=account_ids).select_related("household").order_by("pk"))
    statements: dict[str, Any] = {}
    many = getattr(custodian, "statements", None)
    if many is not None and accounts:
        try:
            statements = many(
                [a.custodian_account_number for a in accounts if a.custodian_account_number], business_date
            )
        except CustodianError as exc:
            logger.info("statements file not available; asking account by account: %s", exc)
    ours_by_account = book_holdings_as_of(account_ids=[a.pk for a in accounts], as_of=business_date)
    existing = set(
        ReconciliationBreak.objects.filter(account_id__in=account_ids, business_date=business_date).values_list(
            "account_id", "asset"
        )
    )
    securities = dict(Security.objects.values_list("symbol", "pk"))
    new: list[ReconciliationBreak] = []
    ready: list[EventSpec] = []
    for account in accounts:
        try:
            statement = statements.get(account.custodian_account_number or "") or custodian.statement(
                account.custodian_account_number, business_date
            )
        except CustodianError as exc:
            outcome.fail(account_id=account.pk, firm_id=account.household.firm_id, error=str(exc))
            continue
        ours = ours_by_account.get(account.pk, {})
        theirs = _statement_holdings(statement, account.base_currency)
        outcome.add("accounts")
        account_breaks = 0
        for asset in sorted(set(ours) | set(theirs)):
            our_qty, their_qty = ours.get(asset, ZERO), theirs.get(asset, ZERO)
            if our_qty == their_qty or (account.pk, asset) in existing:
                continue
            is_cash = asset.startswith(CASH_PREFIX)
            new.append(
                ReconciliationBreak(
                    account=account,
                    business_date=business_date,
                    asset=asset,
                    security_id=None if is_cash else securities.get(asset),
                    currency=asset[len(CASH_PREFIX) :] if is_cash else account.base_currency,
                    ours=our_qty,
                    theirs=their_qty,
                    difference=their_qty - our_qty,
                )
            )
            account_breaks += 1
        outcome.add("clean" if not account_breaks else "with_breaks")
        ready.append(
            EventSpec(
                kind="statement.ready",
                firm_id=account.household.firm_id,
                household_id=account.household_id,
                account_id=account.pk,
                subject_type="account",
                subject_id=account.pk,
                payload={"account": account.pk, "business_date": business_date, "breaks": account_breaks},
            )
        )
    events_emit_bulk(ready)
    if new:
        bulk_create_with_history(
            new, ReconciliationBreak, default_user=acting_user, default_change_reason="reconciliation"
        )
    outcome.add("breaks", len(new))
    return outcome


@transaction.atomic
def break_resolve(
    *, brk: ReconciliationBreak, note: str, acting_user: User, adjust: bool = True
) -> ReconciliationBreak:
    """Resolve a break with a note. With `adjust`, our books are brought to the custodian's figure
    by ONE adjustment journal entry against the firm's suspense book (idempotent per break);
    without it (e.g. the custodian was wrong), only the note is recorded.

    Refuses an empty note, a break already resolved, and an adjustment the ledger refuses.
    """
    note = (note or "").strip()
    if not note:
        raise OperationsError("Say how the break was resolved.", field="note")
    brk = (
        ReconciliationBreak.objects.select_for_update(of=("self",))
        .select_related("account__household", "security")
        .get(pk=brk.pk)
    )
    if brk.status == ReconciliationBreak.Status.RESOLVED:
        raise OperationsError("This break is already resolved.")
    entry: JournalEntry | None = None
    if adjust and brk.difference != 0:
        account = brk.account
        client = ledger.client_book(account)
        suspense = ledger.system_book(LedgerBook.Kind.SUSPENSE, firm=account.household.firm)
        diff = brk.difference
        if brk.security is not None:
            postings = [
                PostingSpec.shares(client, brk.security, diff),
                PostingSpec.shares(suspense, brk.security, -diff),
            ]
        else:
            postings = [PostingSpec.cash(client, diff, brk.currency), PostingSpec.cash(suspense, -diff, brk.currency)]
        try:
            entry = ledger.post_entry(
                kind=JournalEntry.Kind.ADJUSTMENT,
                postings=postings,
                effective_date=brk.business_date,
                acting_user=acting_user,
                memo=f"Reconciliation adjustment: {brk.asset} {note}"[:255],
                idempotency_key=f"recon-break:{brk.pk}",
                reference_type="operations.reconciliationbreak",
                reference_id=brk.pk,
            )
        except PortfoliosError as exc:
            raise OperationsError(f"The adjustment was refused: {exc.message}") from exc
    brk.status = ReconciliationBreak.Status.RESOLVED
    brk.note = note
    brk.resolved_by = acting_user
    brk.resolved_at = timezone.now()
    brk.adjustment_entry = entry
    return save_attributed(brk, acting_user=acting_user, reason="break resolved")
