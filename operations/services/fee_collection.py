"""Fees that waited for cash: debited once the sales raising it have settled (the nightly
settlement step runs `fee_charges_release`), or marked not debited with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import User
from accounts.services import events_emit_bulk
from kronos.history import save_attributed
from operations.models import BillingRun, FeeCharge
from operations.services.billing import charge_memo, fee_charged_event
from portfolios import ledger
from portfolios.ledger import PostingSpec
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook
from trading.services import cash_raise_shortfall, lock_account, withdrawable_cash

ZERO = Decimal(0)


def fee_charges_release(
    *, acting_user: User, account_ids: Sequence[int] | None = None, effective_date: date | None = None
) -> dict[str, int]:
    """Debit the fees awaiting cash whose sales have brought it (the nightly settlement step runs
    this after settling the day's trades): under each account's lock, a fee the withdrawable cash
    covers is posted with the entry key it would have had at approval (so never twice), dated
    `effective_date` (today unless given; the settlement step gives the next business day, as for
    withdrawals), and its run's total updated; one whose sales are over without raising enough is marked not debited with the
    reason. Idempotent: a debited or failed charge no longer waits."""
    waiting = FeeCharge.objects.filter(status=FeeCharge.Status.AWAITING_CASH)
    if account_ids is not None:
        waiting = waiting.filter(Q(account_id__in=account_ids) | Q(paid_from_id__in=account_ids))
    counts = {"fees_debited": 0, "fees_failed": 0}
    rows = waiting.order_by("account_id", "id").values_list("id", "account_id", "paid_from_id")
    for charge_id, account_id, paid_from_id in list(rows):
        with transaction.atomic():
            account = lock_account(InvestmentAccount(pk=paid_from_id or account_id))
            charge = (
                FeeCharge.objects.select_for_update(of=("self",))
                .select_related("billing_run", "proposal__account", "account")
                .get(pk=charge_id)
            )
            if charge.status != FeeCharge.Status.AWAITING_CASH:
                continue
            available = withdrawable_cash(account)
            if charge.amount <= available:
                run = charge.billing_run
                charge.entry = ledger.post_entry(
                    kind=JournalEntry.Kind.FEE,
                    postings=[
                        PostingSpec.cash(ledger.client_book(account), -charge.amount, charge.currency),
                        PostingSpec.cash(
                            ledger.system_book(LedgerBook.Kind.FEES_INCOME, firm=run.firm_id),
                            charge.amount,
                            charge.currency,
                        ),
                    ],
                    effective_date=effective_date or timezone.localdate(),
                    memo=charge_memo(charge, run),
                    acting_user=acting_user,
                    idempotency_key=f"fee:{charge.account_id}:{charge.period_start.isoformat()}",
                    reference_type="operations.feecharge",
                    reference_id=charge.pk,
                )
                charge.status = FeeCharge.Status.DEBITED
                charge.error = ""
                counts["fees_debited"] += 1
            else:
                reason = cash_raise_shortfall(proposal=charge.proposal, amount=charge.amount, available=available)  # type: ignore[arg-type]
                if reason is None:
                    continue
                charge.status = FeeCharge.Status.FAILED
                charge.error = reason[:255]
                counts["fees_failed"] += 1
            save_attributed(charge, acting_user=acting_user, reason="fee cash raised", validate=False)
            run = BillingRun.objects.select_for_update().get(pk=charge.billing_run_id)
            run.total = (
                run.charges.filter(status=FeeCharge.Status.DEBITED).aggregate(total=Sum("amount"))["total"] or ZERO
            )
            save_attributed(run, acting_user=acting_user, reason="fee cash raised", validate=False)
            events_emit_bulk([fee_charged_event(charge, run)])
    return counts
