"""Celery tasks: thin wrappers around operations.jobs and the stages' services.

Every task acknowledges late and is rejected (redelivered) if its worker dies, so a chunk cut
off mid-way runs again; the chunk's row makes the second run a no-op once the first committed.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.utils import timezone

from operations import jobs
from operations.models import JobRun
from operations.services.nightly import NIGHTLY

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


def _day(business_date: str | None) -> date:
    return date.fromisoformat(business_date) if business_date else timezone.localdate()


@shared_task(name="operations.run_chunk", **TASK_OPTIONS)
def run_chunk(run_id: int, index: int) -> bool:
    done = jobs.chunk_execute(run_id=run_id, index=index)
    jobs.close_if_complete(run_id)  # also on a redelivery: the first delivery may have died before it
    return done


@shared_task(name="operations.close_run", **TASK_OPTIONS)
def close_run(run_id: int, then: list[str] | None = None) -> str:
    """Close a run by hand (or from a message queued before runs closed themselves)."""
    if then:
        JobRun.objects.filter(pk=run_id, then=[]).update(then=list(then))
    return jobs.close_run(run_id).status


@shared_task(name="operations.run_stage", **TASK_OPTIONS)
def run_stage(name: str, business_date: str | None = None, then: list[str] | None = None) -> int | None:
    run = jobs.stage_start(name, _day(business_date), then=then or [])
    return run.pk if run else None


@shared_task(name="operations.nightly", **TASK_OPTIONS)
def nightly(business_date: str | None = None) -> None:
    """After the close: prices -> corporate actions -> valuations -> drift scan -> settlement -> reconciliation."""
    first, *rest = NIGHTLY
    jobs.stage_start(first, _day(business_date), then=rest)


@shared_task(name="operations.aml_rescreen", **TASK_OPTIONS)
def aml_rescreen(business_date: str | None = None) -> int | None:
    run = jobs.stage_start("aml_rescreen", _day(business_date))
    return run.pk if run else None


@shared_task(name="operations.billing", **TASK_OPTIONS)
def billing(business_date: str | None = None) -> int | None:
    run = jobs.stage_start("billing", _day(business_date))
    return run.pk if run else None
