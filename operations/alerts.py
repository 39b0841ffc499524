"""Alert hooks: email to settings.OPERATIONS_ALERT_EMAILS when a job fails or breaks appear."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from operations.models import JobRun, ReconciliationBreak

logger = logging.getLogger(__name__)


def _send(subject: str, body: str) -> int:
    recipients = list(settings.OPERATIONS_ALERT_EMAILS)
    if not recipients:
        logger.warning("operations alert with no recipients", extra={"subject": subject})
        return 0
    return send_mail(f"[Kronos] {subject}", body, None, recipients, fail_silently=False)


def job_failed(run: JobRun) -> int:
    errors = "\n".join(f"- account {e.get('account_id') or '-'}: {e.get('error')}" for e in (run.errors or [])[:20])
    url = settings.SITE_URL.rstrip("/") + reverse("operations:job_detail", args=[run.pk])
    body = (
        f"The job {run.job} for {run.business_date} ended {run.get_status_display().lower()}.\n\n"
        f"Counts: {run.counts}\n\nFirst errors:\n{errors or '-'}\n\nDetails: {url}\n"
    )
    return _send(f"{run.job} {run.business_date}: {run.status}", body)


def breaks_found(business_date: object, breaks: Sequence[ReconciliationBreak]) -> int:
    if not breaks:
        return 0
    lines = "\n".join(
        f"- account {b.account_id} {b.asset}: ours {b.ours.normalize()}, custodian {b.theirs.normalize()}"
        for b in list(breaks)[:50]
    )
    url = settings.SITE_URL.rstrip("/") + reverse("operations:break_list")
    body = f"Reconciliation for {business_date} found {len(breaks)} break(s):\n\n{lines}\n\nResolve them at {url}\n"
    return _send(f"{len(breaks)} reconciliation break(s) on {business_date}", body)
