"""Settlement: T+1 (business days) each fill's cash moves from the custodian's clearing book to
the market, once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from accounts.models import User
from accounts.services import system_user
from portfolios import ledger
from portfolios.ledger import PostingSpec
from portfolios.models import JournalEntry, LedgerBook
from trading.models import Execution, Side


def settlement_run(*, as_of: date, acting_user: User | None = None, chunk_size: int = 500) -> int:
    """Settle every fill due by `as_of` (T+1 business days): move its cash from the custodian's
    clearing book to the market. Idempotent: a settled fill is never settled again, and each
    entry has its own key, so a rerun (or two concurrent runs) settles nothing twice."""
    acting_user = acting_user or system_user()
    settled = 0
    while True:
        with transaction.atomic():
            batch = list(
                Execution.objects.select_for_update(skip_locked=True)
                .filter(settled_at__isnull=True, settle_date__lte=as_of)
                .select_related("order__account__household")
                .order_by("id")[:chunk_size]
            )
            if not batch:
                return settled
            books: dict[tuple[str, int], LedgerBook] = {}
            now = timezone.now()
            specs: list[ledger.EntrySpec] = []
            paid: list[Execution] = []  # the executions with cash to settle, in the order of `specs`
            for execution in batch:
                order = execution.order
                firm_id = order.account.household.firm_id
                for kind in (LedgerBook.Kind.MARKET, LedgerBook.Kind.CUSTODIAN_CLEARING):
                    if (kind, firm_id) not in books:
                        books[(kind, firm_id)] = ledger.system_book(kind, firm=firm_id)
                if execution.amount:
                    sign = Decimal(1) if order.side == Side.BUY else Decimal(-1)
                    currency = order.account.base_currency
                    specs.append(
                        ledger.EntrySpec(
                            kind=JournalEntry.Kind.SETTLEMENT,
                            postings=[
                                PostingSpec.cash(
                                    books[(LedgerBook.Kind.CUSTODIAN_CLEARING, firm_id)],
                                    -sign * execution.amount,
                                    currency,
                                ),
                                PostingSpec.cash(
                                    books[(LedgerBook.Kind.MARKET, firm_id)], sign * execution.amount, currency
                                ),
                            ],
                            effective_date=execution.settle_date,
                            memo=f"settlement of {execution.execution_id}",
                            idempotency_key=f"settle:{execution.execution_id}",
                            reference_type="trading.execution",
                            reference_id=execution.pk,
                        )
                    )
                    paid.append(execution)
                execution.settled_at = now
            # The batch's entries in one call (a fixed number of queries, not a dozen an entry).
            for execution, posted in zip(paid, ledger.post_entries_bulk(specs, acting_user=acting_user), strict=True):
                execution.settlement_entry = posted.entry
            bulk_update_with_history(
                batch,
                Execution,
                ["settled_at", "settlement_entry"],
                default_user=acting_user,
                default_change_reason="settled",
            )
            settled += len(batch)
