"""Running the nightly chain by hand ("Run now" on the operations page)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from operations.jobs import enqueue_job_task
from operations.models import JobRun

logger = logging.getLogger(__name__)

#: The nightly chain of stages for a business date (operations/stages.py registers them).
NIGHTLY = (
    "prices",
    "corporate_actions",
    "valuations",
    "drift_scan",
    "household_rebalancing",
    "settlement",
    "reconciliation",
)
RUN_NOW_HOLD_SECONDS = 600


@dataclass(frozen=True)
class RunNowResult:
    """What "Run now" did: `queued` is True only for the click that queued the job."""

    queued: bool
    business_date: date
    message: str


def nightly_run_now(*, acting_user: User, business_date: date | None = None) -> RunNowResult:
    """Queue the nightly chain (prices -> ... -> reconciliation) for the firm's business date now,
    as beat would at 17:30, for operations staff who cannot wait for the schedule.

    Idempotent: when the day's chain has started (its first stage has a run, running or
    finished) nothing is queued; a click while an earlier click's task waits for a worker is
    refused by a short hold in the shared cache (an atomic add). Past the hold, a second task
    would still do nothing twice: each stage runs once per business date (`jobs.start_job`).
    The web process only queues; the worker does the work."""
    day = business_date or timezone.localdate()
    first = JobRun.objects.filter(job=NIGHTLY[0], business_date=day).first()
    if first is not None:
        state = "is running" if not first.is_finished else f"ran ({first.get_status_display().lower()})"
        return RunNowResult(False, day, f"The nightly job for {day:%Y-%m-%d} already {state}; nothing was queued.")
    hold = f"operations:run-now:nightly:{day.isoformat()}"
    if not cache.add(hold, str(getattr(acting_user, "pk", "")), RUN_NOW_HOLD_SECONDS):
        return RunNowResult(
            False, day, f"The nightly job for {day:%Y-%m-%d} is already queued; nothing more was queued."
        )
    enqueue_job_task("operations.nightly", day.isoformat())
    logger.info(
        "nightly job queued by hand",
        extra={"business_date": day.isoformat(), "acting_user": getattr(acting_user, "email", "")},
    )
    return RunNowResult(
        True, day, f"The nightly job for {day:%Y-%m-%d} is queued; its runs appear below as they start."
    )
