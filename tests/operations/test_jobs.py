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
