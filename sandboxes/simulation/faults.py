"""The night a Celery worker is killed mid-scan (`--faults`): the drift scan on a real worker,
SIGKILLed once a chunk has committed, and a second worker that takes over; then its checks."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404 -- our own celery worker for the kill test
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from kronos.celery import app as celery_app
from operations import jobs
from operations.models import JobChunk, JobRun
from sandboxes.simulation.config import SECRET
from sandboxes.simulation.harness import celery_default_queue
from sandboxes.simulation.invariants import Violation
from sandboxes.simulation.world import World
from trading.models import RebalanceProposal


class Faults(World):
    # --- the worker killed mid-scan -------------------------------------------------------------------

    def nightly_with_killed_worker(self, day: date) -> None:
        """The night's chain with its drift scan on a real Celery worker, SIGKILLed once the first
        chunk has committed (a chunk sleeps inside its transaction, so the kill lands mid-chunk), then
        a second worker that takes over the unacknowledged chunk; settlement and reconciliation
        follow on it. Checked: the scan ends succeeded, every chunk done once, one proposal an account."""
        for stage in ("prices", "corporate_actions", "valuations"):
            jobs.stage_start(stage, day)
        queue = f"simulation-{os.getpid()}"
        celery_app.conf.task_always_eager = False

        # Four chunks or more, so the kill lands with some done and some not.
        overrides = override_settings(OPERATIONS_QUEUE=queue, OPERATIONS_CHUNK_SIZE=max(1, len(self.numbers) // 4))
        overrides.enable()
        workers: list[subprocess.Popen[bytes]] = []
        logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"simulation-worker-{os.getpid()}"  # noqa: S108  # nosec B108
        logs.mkdir(parents=True, exist_ok=True)
        try:
            workers.append(self._start_worker("killed", queue, logs / "killed.log", delay=1.0))
            run = jobs.stage_start("drift_scan", day, then=["settlement", "reconciliation"])
            if run is None:
                raise RuntimeError("the drift scan had already run")
            self._wait(lambda: JobChunk.objects.filter(run=run, status="done").exists(), 90, logs, "first chunk")
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers[0].wait(timeout=10)
            done_at_kill = JobChunk.objects.filter(run=run, status="done").count()
            time.sleep(6)  # the visibility timeout: Redis hands the unacknowledged chunk out again
            workers.append(self._start_worker("restarted", queue, logs / "restarted.log", delay=0.0))
            self._wait(
                lambda: (
                    JobRun.objects.filter(job="reconciliation", business_date=day)
                    .exclude(status=JobRun.Status.RUNNING)
                    .exists()
                ),
                180,
                logs,
                "the night to finish on the restarted worker",
            )
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=10)
            overrides.disable()
            celery_app.conf.task_always_eager = True
        run.refresh_from_db()
        self.summary.counts["workers killed"] += 1
        problems = []
        if run.status != JobRun.Status.SUCCEEDED:
            problems.append(f"the drift scan ended {run.status}: {run.errors[:3]}")
        attempts = list(JobChunk.objects.filter(run=run).values_list("attempts", flat=True))
        if done_at_kill >= len(attempts):
            problems.append("the scan had finished before the kill")
        if any(a != 1 for a in attempts):
            problems.append(f"chunk attempts {attempts}: a chunk committed more than once")
        # The scan's own proposals carry its run key (unique in the table, so a chunk redone cannot
        # add a second); each account of the run's chunks must have exactly one. (A deposit's or a
        # withdrawal's cash-flow proposal the same day has no run key and is not the scan's.)
        scanned = Counter(
            a for ids in JobChunk.objects.filter(run=run).values_list("account_ids", flat=True) for a in ids
        )
        proposed = Counter(
            RebalanceProposal.objects.filter(as_of=day, run_key__startswith="scheduled:").values_list(
                "account_id", flat=True
            )
        )
        if any(n != 1 for n in scanned.values()):
            problems.append("an account was in more than one chunk of the scan")
        missing = sorted(set(scanned) - set(proposed))
        if missing:
            problems.append(f"{len(missing)} scanned accounts got no proposal (first: {missing[:5]})")
        twice = sorted(a for a, n in proposed.items() if n > 1)
        if twice:
            problems.append(f"{len(twice)} accounts got more than one scheduled proposal (first: {twice[:5]})")
        for problem in problems:
            self.summary.violations += self._report([Violation(day, "worker kill", "-", problem)])

    def _start_worker(self, name: str, queue: str, log: Path, *, delay: float) -> subprocess.Popen[bytes]:
        db = connection.settings_dict
        url = (
            f"postgres://{db['USER'] or 'postgres'}"
            + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
            + f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "REDIS_URL": getattr(settings, "REDIS_URL", "") or settings.CELERY_BROKER_URL,
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "OPERATIONS_TEST_CHUNK_DELAY_SECONDS": str(delay),
            "CUSTODIAN_URL": settings.CUSTODIAN_URL,
            "CUSTODIAN_WEBHOOK_SECRET": SECRET,
            "MARKET_DATA_URL": settings.MARKET_DATA_URL,
            "BANKING_URL": settings.BANKING_URL,
            "KRONOS_SIMULATED_NOW": timezone.now().isoformat(),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "kronos.settings",
        }
        return subprocess.Popen(  # noqa: S603  # nosec B603 -- our own worker, fixed arguments
            [
                sys.executable,
                "-m",
                "sandboxes.simulation.worker",
                "-A",
                "kronos",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                # The chunks go to the simulation's queue; the stages after the scan are queued by the
                # worker itself, on the default queue (OPERATIONS_QUEUE is this process's setting only).
                f"--queues={queue},{celery_default_queue()}",
                "--loglevel=INFO",
                f"--hostname={name}-{os.getpid()}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def _wait(predicate: Callable[[], bool], timeout: float, logs: Path, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        tails = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(logs.glob("*.log")))
        raise RuntimeError(f"timed out waiting for {what}\n{tails}")
