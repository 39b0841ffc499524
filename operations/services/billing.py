"""Quarterly billing: the draft run of every account's fee (preview), then its approval, which
debits each fee through `portfolios.ledger` (or sells to raise the cash, see fee_collection).

Every service validates first, runs in one transaction, records the acting user on the history
rows and raises `OperationsError` with a readable message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Firm, User
from accounts.services import EventSpec, events_emit_bulk
from kronos import bulk
from kronos.api.fields import money_dict
from kronos.history import save_attributed
from operations.engine import fees
from operations.errors import OperationsError
from operations.jobs import ChunkOutcome
from operations.models import BillingRun, FeeAssignment, FeeCharge, FeeSchedule
from operations.services.fee_schedules import schedule_tiers
from portfolios import ledger
from portfolios.ledger import EntrySpec, PostingSpec
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook, ValuationSnapshot
from trading.errors import TradingError
from trading.services import lock_account, proposal_to_raise_cash

ZERO = Decimal(0)
APPROVE_BATCH = 5000  # fee entries per ledger.post_entries_bulk call
BILLING_CHUNK = 2000


def _values_by_account(account_ids: Sequence[int], first: date, last: date) -> dict[int, dict[date, Decimal]]:
    """Valuations (market value + cash) in [first, last] per account, in one query."""
    values: dict[int, dict[date, Decimal]] = defaultdict(dict)
    for account_id, day, mv, cash in (
        ValuationSnapshot.objects.filter(account_id__in=account_ids, date__gte=first, date__lte=last)
        .values_list("account_id", "date", "market_value", "cash")
        .order_by()
    ):
        values[account_id][day] = mv + cash
    return values


def fee_for_account(
    *,
    schedule: FeeSchedule,
    tiers: Sequence[fees.Tier],
    period_start: date,
    period_end: date,
    opened_on: date,
    closed_on: date | None,
    values: dict[date, Decimal],
    opening: Decimal,
) -> tuple[fees.FeeCalc, date, date]:
    first, last, days = fees.billed_days(period_start, period_end, opened_on, closed_on)
    if not days:
        basis = ZERO
    elif schedule.basis == FeeSchedule.Basis.PERIOD_END:
        upto = [d for d in values if d <= last]
        basis = values[max(upto)] if upto else opening
    else:
        opening_value = opening
        earlier = [d for d in values if d < first]
        if earlier:
            opening_value = values[max(earlier)]
        basis = fees.average_daily_balance(values, first, last, opening=opening_value)
    calc = fees.quarterly_fee(
        tiers=tiers, basis=basis, period_start=period_start, period_end=period_end, days_billed=days
    )
    return calc, first, last


def billing_run_preview(*, firm: Firm, period_start: date, acting_user: User) -> BillingRun:
    """Compute (or recompute, while still a draft) the quarter's fee for every account of the firm
    whose household has a fee schedule and that was open in the quarter.

    Refuses a quarter that has not ended and one already approved. Accounts already charged for
    the quarter (by any run) are never charged again: FeeCharge is unique per account and quarter.
    """
    q_start, q_end = fees.quarter_of(period_start)
    if q_start != period_start:
        raise OperationsError("A billing period starts on the first day of a quarter.", field="period_start")
    if q_end >= timezone.localdate():
        raise OperationsError("Fees are billed in arrears: this quarter has not ended yet.", field="period_start")
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().filter(firm=firm, period_start=q_start).first()
        if run is not None and run.status == BillingRun.Status.APPROVED:
            raise OperationsError("This quarter has already been billed.", field="period_start")
        if run is None:
            try:
                with transaction.atomic():
                    run = save_attributed(
                        BillingRun(firm=firm, period_start=q_start, period_end=q_end, created_by=acting_user),
                        acting_user=acting_user,
                        reason="billing preview",
                    )
            except IntegrityError as exc:
                raise OperationsError("A billing run for this quarter is being created.") from exc
        assignments = {
            a.household_id: a.schedule
            for a in FeeAssignment.objects.filter(household__firm=firm, schedule__is_active=True)
            .select_related("schedule")
            .prefetch_related("schedule__tiers")
        }
        tiers_by_schedule = {s.pk: schedule_tiers(s) for s in assignments.values()}
        accounts = list(
            InvestmentAccount.objects.filter(household_id__in=list(assignments), opened_on__lte=q_end)
            .filter(Q(closed_on__isnull=True) | Q(closed_on__gte=q_start))
            .order_by("pk")
            .values_list("pk", "household_id", "opened_on", "closed_on", "base_currency")
        )
        existing = {
            c.account_id: c
            for c in FeeCharge.objects.filter(period_start=q_start, account_id__in=[a[0] for a in accounts])
        }
        new: list[FeeCharge] = []
        changed: list[FeeCharge] = []
        for i in range(0, len(accounts), BILLING_CHUNK):
            chunk = accounts[i : i + BILLING_CHUNK]
            # Ten days before the quarter give the value carried into its first (weekend/holiday) days.
            values = _values_by_account([a[0] for a in chunk], q_start - timedelta(days=10), q_end)
            for account_id, household_id, opened_on, closed_on, currency in chunk:
                charge = existing.get(account_id)
                if charge is not None and (
                    charge.status != FeeCharge.Status.PREVIEW or charge.billing_run_id != run.pk
                ):
                    continue  # billed already (or by another run): never twice
                schedule = assignments[household_id]
                calc, first, last = fee_for_account(
                    schedule=schedule,
                    tiers=tiers_by_schedule[schedule.pk],
                    period_start=q_start,
                    period_end=q_end,
                    opened_on=opened_on,
                    closed_on=closed_on,
                    values=values.get(account_id, {}),
                    opening=ZERO,
                )
                fields = {
                    "schedule": schedule,
                    "basis_kind": schedule.basis,
                    "basis_amount": fees.round_fee(calc.basis),
                    "annual_fee": calc.annual_fee.quantize(Decimal("0.00000001")),
                    "effective_bps": calc.effective_bps,
                    "days_billed": calc.days_billed,
                    "days_in_period": calc.days_in_period,
                    "days_in_year": calc.days_in_year,
                    "amount": calc.amount,
                    "currency": currency,
                    "calculation": {
                        "first_day": first.isoformat(),
                        "last_day": last.isoformat(),
                        "basis": str(calc.basis),
                        "slices": list(calc.slices),
                        "formula": f"{calc.annual_fee} x {calc.days_billed} / {calc.days_in_year}",
                    },
                }
                if charge is None:
                    new.append(FeeCharge(billing_run=run, account_id=account_id, period_start=q_start, **fields))
                else:
                    for key, value in fields.items():
                        setattr(charge, key, value)
                    changed.append(charge)
        bulk.create_with_history(new, FeeCharge, acting_user=acting_user, reason="billing preview")
        if changed:
            ledger.bulk_update_rows_with_history(
                FeeCharge,
                changed,
                [
                    "schedule",
                    "basis_kind",
                    "basis_amount",
                    "annual_fee",
                    "effective_bps",
                    "days_billed",
                    "days_in_period",
                    "days_in_year",
                    "amount",
                    "currency",
                    "calculation",
                ],
                acting_user=acting_user,
                reason="billing preview",
            )
        totals = run.charges.aggregate(total=Sum("amount"))
        run.total = totals["total"] or ZERO
        run.charge_count = run.charges.count()
        return save_attributed(run, acting_user=acting_user, reason="billing preview", validate=False)


def billing_run_approve(*, run: BillingRun, acting_user: User, effective_date: date | None = None) -> BillingRun:
    """Debit each previewed fee: one journal entry per charge, cash from the client's account to
    the firm's fee-income book, idempotent per charge, posted in bulk (ledger.post_entries_bulk,
    APPROVE_BATCH entries a call, all in this one transaction). A charge the ledger refuses (not
    enough cash: a fully invested account) has its cash raised by a sell proposal, approved at once
    (`trading.services.proposal_to_raise_cash`), and waits as `awaiting_cash` until
    `fee_charges_release` debits it; one whose cash cannot be raised is marked not debited with
    the reason. The others go on. Approving twice debits nothing twice."""
    effective_date = effective_date or timezone.localdate()
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().select_related("firm").get(pk=run.pk)
        if run.status == BillingRun.Status.APPROVED:
            raise OperationsError("This billing run is already approved.")
        income = ledger.system_book(LedgerBook.Kind.FEES_INCOME, firm=run.firm)
        charges = list(
            run.charges.filter(status=FeeCharge.Status.PREVIEW).select_related("account").order_by("account_id")
        )
        books = ledger.client_books([c.account for c in charges])
        done: list[FeeCharge] = [c for c in charges if c.amount <= 0]
        for charge in done:
            charge.status = FeeCharge.Status.DEBITED
        billable = [c for c in charges if c.amount > 0]
        for start in range(0, len(billable), APPROVE_BATCH):
            batch = billable[start : start + APPROVE_BATCH]
            posted = ledger.post_entries_bulk(
                [
                    EntrySpec(
                        kind=JournalEntry.Kind.FEE,
                        postings=[
                            PostingSpec.cash(books[charge.account_id], -charge.amount, charge.currency),
                            PostingSpec.cash(income, charge.amount, charge.currency),
                        ],
                        effective_date=effective_date,
                        memo=f"Advisory fee {run.period_label}",
                        idempotency_key=f"fee:{charge.account_id}:{charge.period_start.isoformat()}",
                        reference_type="operations.feecharge",
                        reference_id=charge.pk,
                    )
                    for charge in batch
                ],
                acting_user=acting_user,
                skip_refused=True,  # not enough cash: that charge fails with the reason, the others go on
            )
            for charge, outcome in zip(batch, posted, strict=True):
                if outcome.entry is not None:
                    charge.entry = outcome.entry
                    charge.status = FeeCharge.Status.DEBITED
                else:
                    _fee_raise_cash(charge, refused=outcome.error, acting_user=acting_user)
                done.append(charge)
        if done:
            ledger.bulk_update_rows_with_history(
                FeeCharge,
                done,
                ["status", "error", "entry", "proposal"],
                acting_user=acting_user,
                reason="billing approved",
            )
            events_emit_bulk([fee_charged_event(charge, run) for charge in done if charge.amount > 0])
        run.status = BillingRun.Status.APPROVED
        run.approved_by = acting_user
        run.approved_at = timezone.now()
        run.total = run.charges.filter(status=FeeCharge.Status.DEBITED).aggregate(total=Sum("amount"))["total"] or ZERO
        return save_attributed(run, acting_user=acting_user, reason="billing approved", validate=False)


def _fee_raise_cash(charge: FeeCharge, *, refused: str, acting_user: User) -> None:
    """A fee the account's cash does not cover: sell to raise it (in a savepoint, so a raise that
    cannot be made writes nothing), or mark the charge not debited with both reasons."""
    try:
        with transaction.atomic():
            account = lock_account(charge.account)
            charge.proposal = proposal_to_raise_cash(
                account=account, amount=charge.amount, acting_user=acting_user, approve=True
            )
    except TradingError as exc:
        charge.proposal = None
        charge.status = FeeCharge.Status.FAILED
        charge.error = f"{refused} {exc.message}"[:255]
        return
    charge.status = FeeCharge.Status.AWAITING_CASH
    charge.error = f"Not enough cash: selling to raise it (proposal {charge.proposal.pk})."[:255]


def fee_charged_event(charge: FeeCharge, run: BillingRun) -> EventSpec:
    return EventSpec(
        kind="fee.charged",
        firm_id=run.firm_id,
        household_id=charge.account.household_id,
        account_id=charge.account_id,
        subject_type="fee_charge",
        subject_id=charge.pk,
        payload={
            "fee_charge": charge.pk,
            "account": charge.account_id,
            "billing_run": run.pk,
            "period_start": charge.period_start,
            "amount": money_dict(charge.amount, charge.currency),
            "status": charge.status,
            "error": charge.error,
        },
    )


def billing_previews_create(*, as_of: date, acting_user: User) -> ChunkOutcome:
    """The quarterly job: a draft billing run of the previous quarter for every firm with schedules."""
    start, _ = fees.previous_quarter(as_of)
    outcome = ChunkOutcome()
    for firm in Firm.objects.filter(fee_schedules__assignments__isnull=False).distinct().order_by("pk"):
        try:
            with transaction.atomic():
                run = billing_run_preview(firm=firm, period_start=start, acting_user=acting_user)
            outcome.add("runs")
            outcome.add("charges", run.charge_count)
        except OperationsError:
            outcome.add("skipped")  # already billed: nothing to do
    return outcome
