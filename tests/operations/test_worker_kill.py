"""Acceptance: a worker SIGKILLed in the middle of the drift scan, then started again, ends with
each proposal created exactly once.

The worker is a real `celery -A kronos worker` subprocess on the test database and our Redis
db. Chunks of one account each sleep inside their transaction (OPERATIONS_TEST_CHUNK_DELAY_SECONDS,
read by operations.jobs), so the kill lands while a chunk is uncommitted; a short visibility
timeout makes Redis hand that unacknowledged task to the new worker.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from kronos.celery import app
from operations import jobs
from operations.models import JobChunk, JobRun
from tests.operations.book import build_book
from trading.models import RebalanceProposal

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DAY = date(2026, 11, 16)  # a Monday
ACCOUNTS = 6
DELAY_SECONDS = 1.5
VISIBILITY_SECONDS = 5
ROOT = Path(django_settings.BASE_DIR)


def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    broker = django_settings.CELERY_BROKER_URL
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": django_settings.REDIS_URL or broker,
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "OPERATIONS_TEST_CHUNK_DELAY_SECONDS": str(DELAY_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }


def start_worker(name: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "kronos",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            f"--hostname={name}@%h",
        ],
        cwd=ROOT,
        env=worker_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def wait_for(predicate, *, timeout: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tails = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def done_chunks(run_id: int) -> int:
    return JobChunk.objects.filter(run_id=run_id, status=JobChunk.Status.DONE).count()


def test_a_worker_killed_mid_scan_and_restarted_creates_each_proposal_exactly_once(alice_household, settings, tmp_path):
    settings.OPERATIONS_CHUNK_SIZE = 1  # one account a chunk: six chunks to be cut into
    book = build_book(alice_household, funded_on=date(2026, 11, 2), price_days=[DAY], drifted=4, balanced=2,
                      automatic=False)  # fmt: skip
    app.control.purge()  # nothing left over from another test on this Redis db
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    first = start_worker("killed", logs[0])
    second = None
    try:
        run = jobs.stage_start("drift_scan", DAY)  # the chunks go to the broker on commit
        assert run is not None
        assert run.chunks_total == ACCOUNTS

        wait_for(lambda: done_chunks(run.pk) >= 1, timeout=30, what="the first chunk", logs=logs)
        os.killpg(first.pid, signal.SIGKILL)  # mid-scan: the next chunk is asleep, uncommitted
        first.wait(timeout=10)
        at_kill = done_chunks(run.pk)
        assert at_kill < ACCOUNTS, "the scan had finished before the kill"

        # Redis hands an unacknowledged task out again once it is older than the visibility
        # timeout; a starting worker sweeps for those at once (later sweeps are minutes apart).
        time.sleep(VISIBILITY_SECONDS + 1)
        second = start_worker("restarted", logs[1])
        wait_for(
            lambda: JobRun.objects.filter(pk=run.pk).exclude(status=JobRun.Status.RUNNING).exists(),
            timeout=40,
            what="the run to finish on the restarted worker",
            logs=logs,
        )
    finally:
        stop(first)
        if second is not None:
            stop(second)

    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED, run.errors
    assert run.chunks_done == ACCOUNTS
    assert run.counts["accounts"] == ACCOUNTS
    chunks = list(JobChunk.objects.filter(run=run))
    assert [c.status for c in chunks] == [JobChunk.Status.DONE] * ACCOUNTS
    assert [c.attempts for c in chunks] == [1] * ACCOUNTS  # every chunk committed exactly once

    per_account = Counter(RebalanceProposal.objects.filter(as_of=DAY).values_list("account_id", flat=True))
    assert per_account == {a.pk: 1 for a in book.accounts}
    assert RebalanceProposal.objects.filter(as_of=DAY, needed=True).count() == 4
    # The restarted worker really did pick up work the killed one had left unacknowledged.
    assert "restarted" in logs[1].read_text(errors="replace")
    assert "operations.run_chunk" in logs[1].read_text(errors="replace")
