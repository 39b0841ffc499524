"""Reads for the operations pages, scoped to the operations staff's firm (404 for others')."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
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
    return run.charges.select_related("account__household", "schedule").order_by("account__custodian_account_number")
