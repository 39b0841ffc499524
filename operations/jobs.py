"""A small framework for scheduled jobs: one run per (job, business date), chunks done exactly once.

    run = start_job("reconciliation", business_date)     # None: this job already ran (or runs) that day
    stage_start(name, business_date, then=[...])          # chunks -> Celery group; the last one closes the run

The engine never imports its Celery tasks (operations/tasks.py imports the engine): it sends them
by name (`enqueue_job_task`, the chunks' group), after the commit, on the jobs' queue.

Guarantees:
- `start_job` inserts the `JobRun` row under a unique (job, business_date) constraint, behind a
  short lock (Redis, or the database while Redis is away: kronos/locks.py), so two beat processes or a repeated trigger never start a second run.
- Each chunk is a `JobChunk` row (unique per run and index). The chunk task locks its row, returns
  at once if it is done, and otherwise does the chunk's work and marks it done in ONE transaction:
  a worker killed mid-chunk leaves nothing behind, the redelivered task (acks_late,
  reject_on_worker_lost) does the whole chunk again, and a duplicate delivery finds it done.
- A failure of one account is recorded on the chunk (and the run) without stopping the others;
  the stage functions isolate accounts with savepoints.
- The run closes itself from its own rows, not from Celery's chord bookkeeping: each chunk task,
  after its commit, looks whether any chunk of the run is still pending, and the one that finds
  none calls `close_run`. (A chord counts deliveries, so a chunk redelivered after a worker died
  between its commit and its acknowledgement counts twice and the callback is lost.)
- `finish_run` is idempotent: it totals the chunks, sets the status (succeeded / partial /
  failed) and alerts operations; `close_run` then starts the next stage of the run's chain
  (`JobRun.then`). Starting a stage that already runs hands it the chain instead of skipping
  ahead, so a duplicate close or a second trigger never runs a stage before its predecessor ends.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from celery import current_app, group
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Firm
from accounts.services import EventSpec, events_emit_bulk, system_user
from kronos.db import create_or_winner
from kronos.locks import try_lock
from operations import alerts
from operations.engine.calendar import non_trading_reason
from operations.models import JobChunk, JobRun

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000
MAX_STORED_ERRORS = 500
LOCK_TTL_SECONDS = 60
# TEST ONLY: seconds a chunk task sleeps after its work, inside the chunk's transaction, so a
# test can SIGKILL a worker in the middle of a scan (tests/operations/test_worker_kill.py).
# Unset (or 0) everywhere else.
CHUNK_DELAY_ENV = "OPERATIONS_TEST_CHUNK_DELAY_SECONDS"


def chunk_size_for(stage: Stage) -> int:
    """The stage's chunk size, unless settings.OPERATIONS_CHUNK_SIZE overrides it (tests, tuning)."""
    return int(getattr(settings, "OPERATIONS_CHUNK_SIZE", 0) or stage.chunk_size)


def job_queue() -> str | None:
    """settings.OPERATIONS_QUEUE: the Celery queue the jobs' chunk and next-stage tasks are sent
    to (set on each task, so a run's chunks and the stages after it all go there); None: Celery's
    default queue. Lets the jobs run on workers of their own (`celery worker -Q <queue>`)."""
    return getattr(settings, "OPERATIONS_QUEUE", None) or None


def _queue_options() -> dict[str, str]:
    """The sending options that put a job's task on `job_queue()` (none: the default queue)."""
    queue = job_queue()
    return {"queue": queue} if queue else {}


def enqueue_job_task(task_name: str, *args: Any) -> None:
    """Send one of the jobs' tasks by name once the transaction commits, on `job_queue()`.

    Not `kronos.relay`: that one drops a send the broker refuses (its tasks all have a periodic
    run that catches up), and carries no queue; a job's next stage has no such safety net."""
    options = _queue_options()
    transaction.on_commit(lambda: current_app.tasks[task_name].apply_async(args, **options))


def _test_chunk_delay() -> float:
    try:
        return max(0.0, float(os.environ.get(CHUNK_DELAY_ENV, "0") or 0))
    except ValueError:
        return 0.0


@dataclass
class ChunkOutcome:
    """What a stage did for a chunk (or a whole single-step job)."""

    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, *, account_id: int | None, error: str, firm_id: int | None = None) -> None:
        self.errors.append({"account_id": account_id, "firm_id": firm_id, "error": error[:500]})
        self.add("failed")


ChunkFn = Callable[..., ChunkOutcome]


@dataclass(frozen=True)
class Stage:
    """A job: a single step (`single`) or a chunked one (`accounts` lists the ids, `chunk` does a slice)."""

    name: str
    trading_days_only: bool = True
    single: Callable[..., ChunkOutcome] | None = None
    accounts: Callable[[date], list[int]] | None = None
    chunk: ChunkFn | None = None
    chunk_size: int = CHUNK_SIZE
    after: Callable[[JobRun], None] | None = None  # called once the run is closed (e.g. alerts)


STAGES: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    STAGES[stage.name] = stage
    return stage


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


# --- Starting and finishing runs -------------------------------------------------------------


def start_job(name: str, business_date: date, *, then: Sequence[str] = ()) -> JobRun | None:
    """The new run of `name` for `business_date`, or None when one exists (never twice a day).

    On a non-trading day a job that only runs on trading days is recorded as skipped (so the
    page shows why nothing happened) and None is returned.
    """
    lock = f"operations:job-lock:{name}:{business_date.isoformat()}"
    with try_lock(lock, ttl=LOCK_TTL_SECONDS) as held:
        if not held:
            return None
        return _start_job_locked(name, business_date, then=then)


def _start_job_locked(name: str, business_date: date, *, then: Sequence[str]) -> JobRun | None:
    if JobRun.objects.filter(job=name, business_date=business_date).exists():
        return None
    stage = STAGES.get(name)
    reason = non_trading_reason(business_date) if stage is None or stage.trading_days_only else None
    created: list[JobRun] = []

    def create() -> JobRun | None:
        if reason:
            JobRun.objects.create(
                job=name,
                business_date=business_date,
                status=JobRun.Status.SKIPPED,
                finished_at=timezone.now(),
                note=f"skipped: not a trading day ({reason})",
            )
            return None
        created.append(JobRun.objects.create(job=name, business_date=business_date, then=list(then)))
        return created[0]

    run = create_or_winner(create, lambda: JobRun.objects.filter(job=name, business_date=business_date).first())
    return run if created and run is created[0] else None  # None too when another process inserted it first


def _status_for(counts: dict[str, int], errors: list[dict[str, Any]]) -> str:
    failed = counts.get("failed", 0) or len(errors)
    if not failed:
        return JobRun.Status.SUCCEEDED
    done = sum(v for k, v in counts.items() if k != "failed")
    return JobRun.Status.PARTIAL if done else JobRun.Status.FAILED


def _merge(into: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + int(value)


def finish_run(run_id: int, *, outcome: ChunkOutcome | None = None) -> JobRun:
    """Close a run from its chunks (or from `outcome` for a single step); idempotent."""
    with transaction.atomic():
        run = JobRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished:
            return run
        counts: dict[str, int] = {}
        errors: list[dict[str, Any]] = []
        if outcome is not None:
            _merge(counts, outcome.counts)
            errors.extend(outcome.errors)
        chunks = list(run.chunks.all())
        for chunk in chunks:
            _merge(counts, chunk.counts)
            errors.extend(chunk.errors)
        pending = sum(1 for c in chunks if c.status != JobChunk.Status.DONE)
        if pending:
            errors.append({"account_id": None, "firm_id": None, "error": f"{pending} chunk(s) never completed."})
            counts["failed"] = counts.get("failed", 0) + pending
        run.counts = counts
        run.errors = errors[:MAX_STORED_ERRORS]
        run.chunks_done = len(chunks) - pending
        run.status = _status_for(counts, errors)
        run.finished_at = timezone.now()
        run.save()
        if run.status in (JobRun.Status.FAILED, JobRun.Status.PARTIAL):
            _job_failed_events(run)
            transaction.on_commit(lambda: _alert_failed(run.pk))
        stage = STAGES.get(run.job)
        if stage is not None and stage.after is not None:
            after = stage.after
            transaction.on_commit(lambda: after(JobRun.objects.get(pk=run.pk)))
    return run


def fail_run(run_id: int, error: str) -> JobRun:
    """Close a run that could not do its work at all (the step raised)."""
    outcome = ChunkOutcome()
    outcome.fail(account_id=None, error=error)
    return finish_run(run_id, outcome=outcome)


def _job_failed_events(run: JobRun) -> None:
    """`job.failed` for every firm (a run covers them all): their operations staff are told."""
    payload = {
        "job_run": run.pk,
        "job": run.job,
        "business_date": run.business_date,
        "status": run.status,
        "failed": run.counts.get("failed", 0) or len(run.errors),
    }
    events_emit_bulk(
        [
            EventSpec(kind="job.failed", firm_id=firm_id, payload=payload, subject_type="job_run", subject_id=run.pk)
            for firm_id in Firm.objects.values_list("pk", flat=True)
        ]
    )


def _alert_failed(run_id: int) -> None:
    alerts.job_failed(JobRun.objects.get(pk=run_id))


# --- Chunks ---------------------------------------------------------------------------------


def chunks_create(run: JobRun, account_ids: Iterable[int], *, size: int) -> list[int]:
    """Create the run's chunks (idempotently) and return the indexes still pending."""
    slices = chunked(sorted(account_ids), size)
    JobChunk.objects.bulk_create(
        [JobChunk(run=run, index=i, account_ids=ids) for i, ids in enumerate(slices)], ignore_conflicts=True
    )
    JobRun.objects.filter(pk=run.pk).update(chunks_total=len(slices))
    run.chunks_total = len(slices)
    return list(
        JobChunk.objects.filter(run=run, status=JobChunk.Status.PENDING)
        .order_by("index")
        .values_list("index", flat=True)
    )


def close_if_complete(run_id: int) -> JobRun | None:
    """Close the run when no chunk of it is pending; called by each chunk task after its commit,
    so the last chunk to commit (whichever worker it ran on) sees the others done and closes it."""
    if JobChunk.objects.filter(run_id=run_id).exclude(status=JobChunk.Status.DONE).exists():
        return None
    return close_run(run_id)


def close_run(run_id: int) -> JobRun:
    """Finish the run and start the next stage of its chain; safe to call again (a redelivery,
    two last chunks at once): the next stage's start is itself idempotent."""
    run = finish_run(run_id)
    _continue(run.business_date, run.then, previous=run)
    return run


def chunk_execute(*, run_id: int, index: int) -> bool:
    """Do one chunk exactly once: False when it was already done (a duplicate delivery)."""
    with transaction.atomic():
        # Lock the chunk's row alone: a plain FOR UPDATE over the join would lock the run's row
        # too, for the whole chunk, and so make the chunks of a run wait for one another.
        chunk = JobChunk.objects.select_for_update(of=("self",)).select_related("run").get(run_id=run_id, index=index)
        if chunk.status == JobChunk.Status.DONE:
            return False
        stage = STAGES[chunk.run.job]
        assert stage.chunk is not None
        try:
            with transaction.atomic():
                outcome = stage.chunk(
                    account_ids=chunk.account_ids, business_date=chunk.run.business_date, acting_user=system_user()
                )
        except Exception as exc:  # the whole chunk failed: record it, the others go on
            logger.exception("chunk failed", extra={"job": chunk.run.job, "chunk": index})
            outcome = ChunkOutcome()
            for account_id in chunk.account_ids:
                outcome.fail(account_id=account_id, error=f"{type(exc).__name__}: {exc}")
        delay = _test_chunk_delay()
        if delay:
            time.sleep(delay)  # test only: a window in which the worker can be killed mid-chunk
        chunk.counts = outcome.counts
        chunk.errors = outcome.errors[:MAX_STORED_ERRORS]
        chunk.status = JobChunk.Status.DONE
        chunk.attempts += 1
        chunk.finished_at = timezone.now()
        chunk.save()
    return True


# --- Running stages -------------------------------------------------------------------------


def stage_start(name: str, business_date: date, *, then: Sequence[str] = ()) -> JobRun | None:
    """Start one stage for the day; when it ends (now, or when its last chunk commits) start
    `then[0]` with the rest of `then`. A stage that already ran that day is passed over (see
    `_follow`)."""
    stage = STAGES[name]
    run = start_job(name, business_date, then=then)
    if run is None:
        _follow(name, business_date, then)
        return None
    if stage.single is not None:
        try:
            with transaction.atomic():
                outcome = stage.single(business_date=business_date, acting_user=system_user())
        except Exception as exc:
            logger.exception("job failed", extra={"job": name})
            fail_run(run.pk, f"{type(exc).__name__}: {exc}")
        else:
            finish_run(run.pk, outcome=outcome)
        return close_run(run.pk)
    assert stage.accounts is not None
    try:
        account_ids = stage.accounts(business_date)
        pending = chunks_create(run, account_ids, size=chunk_size_for(stage))
    except Exception as exc:
        logger.exception("job could not start", extra={"job": name})
        fail_run(run.pk, f"{type(exc).__name__}: {exc}")
        return close_run(run.pk)
    if not pending:
        return close_run(run.pk)
    options = _queue_options()
    chunks = group(
        current_app.signature("operations.run_chunk", args=(run.pk, index), immutable=True, **options)
        for index in pending
    )
    transaction.on_commit(chunks.apply_async)
    return run


def _follow(name: str, business_date: date, then: Sequence[str]) -> None:
    """The stage's run for the day exists already: a finished one is passed over (a second run of
    a whole night does nothing and still walks the chain to its end); a running one is handed the
    chain, unless it has its own, and goes on with it when it closes."""
    if not then:
        return
    existing = JobRun.objects.filter(job=name, business_date=business_date).first()
    if existing is None:
        return  # another process is inserting it this instant, with the same trigger's chain
    if not existing.is_finished:
        JobRun.objects.filter(pk=existing.pk, status=JobRun.Status.RUNNING, then=[]).update(then=list(then))
        existing.refresh_from_db()
        if not existing.is_finished:
            return
    _continue(business_date, then, previous=None)


def _continue(business_date: date, then: Sequence[str], *, previous: JobRun | None) -> None:
    """Start the next stage of a chain, unless the previous one failed outright."""
    if not then:
        return
    if previous is not None and previous.status == JobRun.Status.FAILED:
        logger.warning("chain stopped", extra={"after": previous.job, "date": business_date.isoformat()})
        return
    enqueue_job_task("operations.run_stage", then[0], business_date.isoformat(), list(then[1:]))
