"""Reads for the operations pages, scoped to the operations staff's firm (404 for others')."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from operations.models import BillingRun, FeeCharge, JobRun, ReconciliationBreak
from operations.permissions import firm_q, job_errors_visible


def job_run_list(*, job: str = "") -> QuerySet[JobRun]:
    """Job runs are platform-wide (one nightly batch for every firm); errors are filtered per firm."""
    qs = JobRun.objects.all().order_by("-business_date", "-started_at")
    if job:
        qs = qs.filter(job=job)
    return qs


def job_run_get(*, pk: int) -> JobRun:
    return get_object_or_404(JobRun.objects.annotate(chunk_count=Count("chunks")), pk=pk)


def job_run_errors_for_user(*, user: User, run: JobRun) -> list[dict[str, Any]]:
    """The run's errors a user may see: their firm's accounts, and errors of the run as a whole."""
    return job_errors_visible(user, run.errors)


def break_list_for_user(*, user: User, status: str = "") -> QuerySet[ReconciliationBreak]:
    qs = ReconciliationBreak.objects.filter(firm_q(user, "account__household__")).select_related(
        "account__household", "resolved_by"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-business_date", "account_id", "asset")


def break_get_for_user(*, user: User, pk: int) -> ReconciliationBreak:
    return get_object_or_404(break_list_for_user(user=user), pk=pk)


def billing_run_list_for_user(*, user: User) -> QuerySet[BillingRun]:
    return BillingRun.objects.filter(firm_q(user, "")).select_related("firm", "created_by", "approved_by")


def billing_run_get_for_user(*, user: User, pk: int) -> BillingRun:
    return get_object_or_404(billing_run_list_for_user(user=user), pk=pk)


def billing_charges(*, run: BillingRun) -> QuerySet[FeeCharge]:
    return run.charges.select_related("account__household", "schedule", "paid_from").order_by(
        "account__custodian_account_number", "period_start"
    )


# --- Household invoices ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    account_number: str
    account_name: str
    period_start: date
    period_end: date
    timing: str
    days_billed: int
    basis: Decimal
    effective_bps: Decimal
    fee_before_credit: Decimal
    credit: Decimal
    amount: Decimal
    currency: str
    paid_from: str  # the debited account's number when another account pays, else ""
    status: str


@dataclass(frozen=True, slots=True)
class Invoice:
    run: BillingRun
    household_id: int
    household_name: str
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    credits: Decimal
    currency: str
    group_basis: Decimal | None  # the household's billable total when billed as one group
    minimum_applied: bool


def billing_run_households(*, run: BillingRun) -> list[dict[str, Any]]:
    """The run's households with their number of charges and total (one query)."""
    rows = (
        run.charges.values("account__household_id", "account__household__name")
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by("account__household__name", "account__household_id")
    )
    return [dict(row) for row in rows]


def billing_invoice(*, run: BillingRun, household_id: int) -> Invoice:
    """A household's invoice for a billing run: each account's fee with its period, basis, rate
    and credit, and the total; 404 when the household has no charge in the run (one query)."""
    charges = list(
        run.charges.filter(account__household_id=household_id)
        .select_related("account__household", "paid_from")
        .order_by("account__custodian_account_number", "period_start")
    )
    if not charges:
        raise Http404("This household has no fee in this billing run.")
    lines = tuple(
        InvoiceLine(
            account_number=c.account.custodian_account_number or str(c.account_id),
            account_name=c.account.name,
            period_start=c.period_start,
            period_end=c.period_end or run.period_end,
            timing=c.get_timing_display(),
            days_billed=c.days_billed,
            basis=c.basis_amount,
            effective_bps=c.effective_bps,
            fee_before_credit=c.amount + c.credit,
            credit=c.credit,
            amount=c.amount,
            currency=c.currency,
            paid_from=(c.paid_from.custodian_account_number or str(c.paid_from_id)) if c.paid_from else "",
            status=c.get_status_display(),
        )
        for c in charges
    )
    group = next((c.calculation.get("group") for c in charges if c.calculation.get("group")), None)
    return Invoice(
        run=run,
        household_id=household_id,
        household_name=charges[0].account.household.name,
        lines=lines,
        total=sum((line.amount for line in lines), Decimal(0)),
        credits=sum((line.credit for line in lines), Decimal(0)),
        currency=charges[0].currency,
        group_basis=Decimal(group["basis"]) if group and len(group.get("accounts", [])) > 1 else None,
        minimum_applied=bool(group and group.get("minimum_applied")),
    )
