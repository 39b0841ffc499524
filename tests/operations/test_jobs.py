"""The job framework: one run per job and day, chunks done once, failures recorded, alerts sent."""

from datetime import date

import pytest
from django.core import mail

from operations import jobs
from operations.jobs import ChunkOutcome, Stage
from operations.models import JobChunk, JobRun

pytestmark = pytest.mark.django_db

MONDAY = date(2025, 3, 17)
calls: list[list[int]] = []


def _chunk(*, account_ids, business_date, acting_user):
    calls.append(list(account_ids))
    outcome = ChunkOutcome()
    for account_id in account_ids:
        if account_id == 13:
            outcome.fail(account_id=13, error="unlucky account")
        else:
            outcome.add("accounts")
    return outcome


@pytest.fixture(autouse=True)
def test_stage():
    calls.clear()
    jobs.register(Stage("test_job", accounts=lambda day: list(range(1, 26)), chunk=_chunk, chunk_size=10))
    yield
    jobs.STAGES.pop("test_job", None)


@pytest.fixture
def eager(settings):
    from kronos.celery import app

    settings.OPERATIONS_ALERT_EMAILS = ["ops@example.com"]
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


def test_a_job_runs_once_per_business_date(eager, django_capture_on_commit_callbacks):
    assert jobs.start_job("test_job", MONDAY) is not None
    assert jobs.start_job("test_job", MONDAY) is None
    assert JobRun.objects.filter(job="test_job").count() == 1


def test_a_chunked_job_spreads_accounts_over_chunks_and_records_the_failed_account(
    eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = jobs.stage_start("test_job", MONDAY)
    run.refresh_from_db()
    assert [len(c) for c in calls] == [10, 10, 5]
    assert run.status == JobRun.Status.PARTIAL
    assert run.counts == {"accounts": 24, "failed": 1}
    assert run.errors == [{"account_id": 13, "firm_id": None, "error": "unlucky account"}]
    assert (run.chunks_done, run.chunks_total) == (3, 3)
    assert len(mail.outbox) == 1
    assert "test_job" in mail.outbox[0].subject and "unlucky account" in mail.outbox[0].body


def test_a_redelivered_chunk_does_nothing_twice(eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = jobs.stage_start("test_job", MONDAY)
    calls.clear()
    assert jobs.chunk_execute(run_id=run.pk, index=0) is False
    assert calls == []
    assert JobChunk.objects.get(run=run, index=0).attempts == 1


def test_a_second_run_of_the_day_does_no_work(eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        jobs.stage_start("test_job", MONDAY)
    calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.stage_start("test_job", MONDAY) is None
    assert calls == []


def test_on_a_holiday_the_job_is_recorded_as_skipped(eager):
    assert jobs.start_job("test_job", date(2025, 12, 25)) is None
    run = JobRun.objects.get(job="test_job")
    assert run.status == JobRun.Status.SKIPPED
    assert run.note == "skipped: not a trading day (Christmas Day)"


def test_a_step_that_raises_fails_the_run_and_alerts(eager, django_capture_on_commit_callbacks):
    def boom(*, business_date, acting_user):
        raise RuntimeError("provider down")

    jobs.register(Stage("test_single", single=boom))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = jobs.stage_start("test_single", MONDAY)
    finally:
        jobs.STAGES.pop("test_single")
    assert run.status == JobRun.Status.FAILED
    assert run.errors[0]["error"] == "RuntimeError: provider down"
    assert len(mail.outbox) == 1


def test_the_schedule_is_in_the_database_scheduler():
    from django_celery_beat.models import PeriodicTask

    tasks = dict(PeriodicTask.objects.values_list("task", "enabled"))
    for name in (
        "operations.nightly",
        "operations.aml_rescreen",
        "operations.billing",
        "accounts.clear_expired_credentials",
        "trading.relay_outbox",
    ):
        assert tasks.get(name) is True
    nightly = PeriodicTask.objects.get(task="operations.nightly")
    assert (nightly.crontab.hour, nightly.crontab.minute, nightly.crontab.day_of_week) == ("17", "30", "1-5")
    assert str(nightly.crontab.timezone) == "America/New_York"


@pytest.mark.django_db(transaction=True)
def test_two_chunks_of_one_run_are_done_at_the_same_time():
    """Two workers each doing a chunk of the same run: neither waits for the other's transaction."""
    import threading

    from django.db import connection

    inside, release = threading.Event(), threading.Event()

    def slow_first(*, account_ids, business_date, acting_user):
        if 1 in account_ids:
            inside.set()
            release.wait(10)  # chunk 0's transaction stays open until chunk 1 is done
        return ChunkOutcome(counts={"accounts": len(account_ids)})

    jobs.register(Stage("test_parallel", accounts=lambda day: list(range(1, 21)), chunk=slow_first, chunk_size=10))
    try:
        run = jobs.start_job("test_parallel", MONDAY)
        jobs.chunks_create(run, range(1, 21), size=10)

        def first() -> None:
            try:
                jobs.chunk_execute(run_id=run.pk, index=0)
            finally:
                connection.close()

        worker = threading.Thread(target=first)
        worker.start()
        try:
            assert inside.wait(10)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '3s'")  # waiting on chunk 0 would fail here
            assert jobs.chunk_execute(run_id=run.pk, index=1) is True
        finally:
            release.set()
            worker.join(10)
        assert set(JobChunk.objects.filter(run=run).values_list("status", flat=True)) == {JobChunk.Status.DONE}
    finally:
        jobs.STAGES.pop("test_parallel", None)


def test_with_a_job_queue_every_task_of_the_job_goes_to_it(settings, monkeypatch, django_capture_on_commit_callbacks):
    """settings.OPERATIONS_QUEUE: the chunks and the next stage are sent to that queue, so workers
    of their own (-Q) do the whole job."""
    from operations import tasks

    settings.OPERATIONS_QUEUE = "ops-jobs"
    sent: dict = {}
    monkeypatch.setattr(
        tasks.run_chunk, "apply_async", lambda args=None, kwargs=None, **o: sent.setdefault("chunk", []).append(o)
    )
    monkeypatch.setattr(tasks.run_stage, "apply_async", lambda args, **options: sent.setdefault("next", options))
    with django_capture_on_commit_callbacks(execute=True):
        run = jobs.stage_start("test_job", MONDAY, then=["after"])
    assert sent["chunk"] and {o.get("queue") for o in sent["chunk"]} == {"ops-jobs"}
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        jobs._continue(MONDAY, ["after"], previous=run)
    assert sent["next"] == {"queue": "ops-jobs"}


@pytest.fixture
def dispatched(monkeypatch):
    """What the job framework sends to the broker: the chunk tasks and the next stages."""
    from operations import tasks

    sent: dict[str, list] = {"chunks": [], "next": []}
    monkeypatch.setattr(tasks.run_chunk, "apply_async", lambda args=None, kwargs=None, **o: sent["chunks"].append(args))
    monkeypatch.setattr(tasks.run_stage, "apply_async", lambda args, **o: sent["next"].append(args))
    return sent


def test_a_chunk_redelivered_after_its_commit_closes_the_run_once_and_starts_the_next_stage_once(
    dispatched, django_capture_on_commit_callbacks
):
    """A worker that dies between a chunk's commit and its acknowledgement gets the chunk
    delivered again: it counts once, the run still closes, and the chain goes on (a Celery chord
    would count the delivery twice and never call its callback)."""
    from operations import tasks

    with django_capture_on_commit_callbacks(execute=True):
        run = jobs.stage_start("test_job", MONDAY, then=["next_stage", "last_stage"])
    assert dispatched["chunks"] == [(run.pk, 0), (run.pk, 1), (run.pk, 2)]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.run_chunk(run.pk, 0) is True
        assert tasks.run_chunk(run.pk, 0) is False  # the redelivery finds its chunk done
        assert tasks.run_chunk(run.pk, 1) is True
        run.refresh_from_db()
        assert run.status == JobRun.Status.RUNNING and dispatched["next"] == []
        assert tasks.run_chunk(run.pk, 2) is True  # the last chunk closes the run
        assert tasks.run_chunk(run.pk, 2) is False  # and its redelivery closes nothing twice
    run.refresh_from_db()
    assert run.status == JobRun.Status.PARTIAL  # account 13 failed
    assert run.chunks_done == 3 and run.counts == {"accounts": 24, "failed": 1}
    assert calls == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]  # each chunk's work once
    # the next stage was sent at the close and again by the redelivery: starting it is idempotent
    assert dispatched["next"] and all(
        a == ("next_stage", MONDAY.isoformat(), ["last_stage"]) for a in dispatched["next"]
    )


def test_starting_a_stage_that_is_still_running_hands_it_the_chain_instead_of_skipping_ahead(
    dispatched, django_capture_on_commit_callbacks
):
    from operations import tasks

    with django_capture_on_commit_callbacks(execute=True):
        run = jobs.stage_start("test_job", MONDAY)  # started by hand, with no chain
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.stage_start("test_job", MONDAY, then=["next_stage"]) is None  # the night's trigger
        assert dispatched["next"] == []  # nothing after it starts while it runs
        run.refresh_from_db()
        assert run.then == ["next_stage"]
        for index in range(3):
            tasks.run_chunk(run.pk, index)
    assert dispatched["next"] == [("next_stage", MONDAY.isoformat(), [])]

    dispatched["next"].clear()
    with django_capture_on_commit_callbacks(execute=True):  # a second night: the finished stage is passed over
        assert jobs.stage_start("test_job", MONDAY, then=["next_stage"]) is None
    assert dispatched["next"] == [("next_stage", MONDAY.isoformat(), [])]
