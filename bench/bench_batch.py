"""The nightly drift scan with proposal generation at scale, end to end, through real Celery workers.

Builds a book of 100,000 accounts of about 15 holdings (demo.scale.seed_scale, COPY), then
runs the drift-scan job exactly as the schedule does: `operations.jobs.stage_start("drift_scan",
day)` records the JobRun, makes its chunks and sends them to the broker as a Celery group of
`operations.run_chunk` tasks, the last of which closes the run; `celery -A kronos worker`
processes on Redis (CELERY_BROKER_URL, with the bench's scratch database) do the chunks. Each
figure is the wall time from dispatching the job to its JobRun being finished (every chunk
done and the run closed).

Two worker nodes of one process each (`--concurrency=1`) are started, so both measurements use
warm processes:
1. warm-up ("cold"): the first scan, on business day D0, with both workers -- the first
   proposals of the book, cold caches; reported, not compared;
2. 1 worker: the second worker stops consuming (`cancel_consumer`); the scan of D1 (the next
   trading day), which expires D0's open proposals and writes a new one per account;
3. 2 workers: the second worker consumes again (`add_consumer`); the scan of D2, the same work
   as D1's (the same prices, so the same plans: the open proposals stand, and each account
   inside its bands gets its slim record);
4. a market move: every close 3% up on D3 (2 workers), so the plans that trade change their
   quantities and their proposals are expired and written again.
5. the steady state: the proposal tables VACUUMed (as autovacuum does after such a night), and
   another market move on D4, whose storage is what a night adds to a live database.
After nights D0, D1, D3 and D4 the bytes the proposals, their trades and their history rows grew by
on disk (tables, indexes and TOAST) are printed per account: the storage of an account-night.
The proposals created, those that need trades, the failures and the chunks each worker did are
printed, so the runs can be seen to do the same work. The job's tasks go to a queue of the
bench's own (settings.OPERATIONS_QUEUE, the workers' `--queues`), so a developer's worker on the
same broker takes none of them. The workers are stopped (their process groups) and the queue
deleted at the end, whatever happens.

BENCH_BATCH_ACCOUNTS sets the size (the figure says so); BENCH_BATCH_CHUNK overrides the chunk
size (OPERATIONS_CHUNK_SIZE, read where the job makes its chunks) for tuning.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

ACCOUNTS = int(os.environ.get("BENCH_BATCH_ACCOUNTS", "100000"))
CHUNK = int(os.environ.get("BENCH_BATCH_CHUNK", "0"))
RUN_TIMEOUT_SECONDS = 1800
ROOT = Path(settings.BASE_DIR)
HOST = socket.gethostname()
# The bench's own queue: a worker of the developer's on the same broker never takes its chunks,
# and the bench's workers take nothing else.
QUEUE = f"bench-batch-{os.getpid()}"


def _trading_days_before(day: date, count: int) -> list[date]:
    from operations.engine.calendar import non_trading_reason

    days: list[date] = []
    while len(days) < count:
        day -= timedelta(days=1)
        if not non_trading_reason(day):
            days.append(day)
    return sorted(days)


def _worker_env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("OPERATIONS_TEST_CHUNK_DELAY_SECONDS", None)
    return env


class Workers:
    """Celery worker nodes (one process each) in their own process groups, always stopped."""

    def __init__(self, names: list[str]):
        self.names = names
        self.logdir = Path(tempfile.mkdtemp(prefix="bench_batch_"))
        self.procs: list[subprocess.Popen[bytes]] = []

    def node(self, name: str) -> str:
        return f"{name}@{HOST}"

    def start(self) -> None:
        env = _worker_env()
        for name in self.names:
            log = (self.logdir / f"{name}.log").open("wb")
            self.procs.append(
                subprocess.Popen(  # nosec B603 -- our own celery executable, fixed arguments
                    [
                        str(Path(sys.executable).with_name("celery")),
                        "-A",
                        "kronos",
                        "worker",
                        "--pool=prefork",
                        "--concurrency=1",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        f"--queues={QUEUE}",
                        "--loglevel=WARNING",
                        f"--hostname={self.node(name)}",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        from kronos.celery import app

        wanted = {self.node(n) for n in self.names}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            replies = app.control.ping(destination=list(wanted), timeout=1.0) or []
            if wanted <= {name for reply in replies for name in reply}:
                return
        raise RuntimeError(f"the Celery workers did not answer within {timeout:.0f} s\n{self.tail()}")

    def check_alive(self) -> None:
        dead = [p for p in self.procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a Celery worker exited (code {dead[0].returncode})\n{self.tail()}")

    def consume(self, name: str, *, on: bool) -> None:
        from kronos.celery import app

        destination = [self.node(name)]
        if on:
            app.control.add_consumer(QUEUE, destination=destination, reply=True, timeout=5)
        else:
            app.control.cancel_consumer(QUEUE, destination=destination, reply=True, timeout=5)

    def tail(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.logdir.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # warm shutdown of the node and its child
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _scan(day: date, workers: Workers) -> tuple[float, dict[str, int], str]:
    """Dispatch the drift-scan job for `day` as the schedule does and wait for its run to close."""
    from operations import jobs
    from operations.models import JobRun

    started = time.perf_counter()
    run = jobs.stage_start("drift_scan", day)  # in autocommit: the chunks go to the broker now
    if run is None:
        raise RuntimeError(f"the drift scan of {day} did not start (already run, or not a trading day)")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not JobRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the drift scan of {day} did not finish in {RUN_TIMEOUT_SECONDS} s\n{workers.tail()}")
        workers.check_alive()
        time.sleep(0.1)
    took = time.perf_counter() - started
    run.refresh_from_db()
    if run.status != JobRun.Status.SUCCEEDED:
        raise RuntimeError(f"the drift scan of {day} ended {run.status}: {run.errors[:3]}")
    return took, run.counts, _chunks_by_worker(run)


def _chunks_by_worker(run) -> str:
    """How many of the run's chunks each worker did (from the task results the workers stored)."""
    from django.db.models import Count
    from django_celery_results.models import TaskResult

    done = (
        TaskResult.objects.filter(task_name="operations.run_chunk", date_done__gte=run.started_at)
        .values("worker")
        .annotate(n=Count("id"))
        .order_by("worker")
    )
    return ", ".join(f"{row['worker'].split('@')[0]} {row['n']}" for row in done)


PROPOSAL_TABLES = (
    "trading_rebalanceproposal",
    "trading_proposaldocument",
    "trading_proposaltrade",
    "trading_historicalrebalanceproposal",
    "trading_historicalproposaltrade",
)


def _proposal_bytes() -> dict[str, int]:
    """What the proposals, their trades and their history rows take on disk (tables, indexes,
    TOAST), by table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c::text, pg_total_relation_size(c) FROM unnest(%s::regclass[]) AS c", [list(PROPOSAL_TABLES)]
        )
        return {name: int(size or 0) for name, size in cursor.fetchall()}


def _vacuum(tables: tuple[str, ...]) -> None:
    """VACUUM (ANALYZE) `tables`, as autovacuum does after a night's writes (outside a transaction)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def _read_floor(as_of: date) -> tuple[float, int]:
    """The scan's input read raw: each of its snapshot queries (`SNAPSHOT_SQL`) over every
    account of the book at once, by COPY ... TO STDOUT, nothing parsed. (seconds, bytes)."""
    from portfolios.selectors.snapshots import SNAPSHOT_SQL

    since = as_of - timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, model_id, household_id FROM portfolios_investmentaccount WHERE model_id IS NOT NULL")
        rows = cursor.fetchall()
        cursor.execute("SELECT id FROM portfolios_security")
        securities = [r[0] for r in cursor.fetchall()]
    ids = [r[0] for r in rows]
    models = sorted({r[1] for r in rows})
    households = sorted({r[2] for r in rows})
    params = {
        "accounts": [ids],
        "positions": [ids],
        "lots": [ids],
        "targets": [models, models],
        "cash": [ids],
        "securities": [as_of, securities],
        "loss_sales": [households, since, as_of],
        "recent_buys": [households, since, as_of],
    }
    size = 0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for name, query in SNAPSHOT_SQL.items():
            with cursor.cursor.copy(f"COPY ({query}) TO STDOUT", params[name]) as copy:
                for data in copy:
                    size += len(data)
    return time.perf_counter() - started, size


def _last_document_id() -> int:
    """The newest proposal document's id: those the next night stores have larger ones."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM trading_proposaldocument")
        return int(cursor.fetchone()[0])


def _write_floor(day: date, documents_after: int) -> tuple[float, int]:
    """The night's output written raw: the proposals of `day`, the inputs documents it stored
    (ids after `documents_after`), their trades and the history rows of both, COPY'd out (not
    timed) and then COPY'd into empty tables with the same columns and indexes, in one
    transaction (timed). (seconds, rows)."""
    from django.db import transaction

    proposals = "SELECT id FROM trading_rebalanceproposal WHERE as_of = %s"
    parts = {
        "trading_proposaldocument": ("SELECT * FROM trading_proposaldocument WHERE id > %s", [documents_after]),
        "trading_rebalanceproposal": (f"SELECT * FROM trading_rebalanceproposal WHERE id IN ({proposals})", [day]),
        "trading_proposaltrade": (f"SELECT * FROM trading_proposaltrade WHERE proposal_id IN ({proposals})", [day]),
        "trading_historicalrebalanceproposal": (
            f"SELECT * FROM trading_historicalrebalanceproposal WHERE id IN ({proposals})",
            [day],
        ),
        "trading_historicalproposaltrade": (
            f"SELECT * FROM trading_historicalproposaltrade WHERE proposal_id IN ({proposals})",
            [day],
        ),
    }
    captured: dict[str, list[bytes]] = {}
    rows = 0
    with connection.cursor() as cursor:
        for table, (query, params) in parts.items():
            with cursor.cursor.copy(f"COPY ({query}) TO STDOUT", params) as copy:
                captured[table] = [bytes(data) for data in copy]
            rows += sum(chunk.count(b"\n") for chunk in captured[table])
    try:
        with connection.cursor() as cursor:
            for table in parts:
                cursor.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for table, chunks in captured.items():
                with cursor.cursor.copy(f"COPY floor_{table} FROM STDIN") as copy:
                    for chunk in chunks:
                        copy.write(chunk)
        took = time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            for table in parts:
                cursor.execute(f"DROP TABLE IF EXISTS floor_{table}")
    return took, rows


def _floor_lines(day: date, took: float, documents_after: int) -> list[tuple[str, str]]:
    """The raw I/O floor of the night of `day` (one connection, after the scan), and the scan's
    time over it."""
    read, read_bytes = _read_floor(day)
    write, write_rows = _write_floor(day, documents_after)
    floor = read + write
    return [
        (
            f"  raw I/O floor of {day}: the input by COPY out + the output by COPY in",
            f"{floor:.2f} s (read {read:.2f} s, {read_bytes / 1e6:,.1f} MB; write {write:.2f} s, {write_rows:,} rows)",
        ),
        ("  the scan's time over its floor", f"{took / floor:.2f}x"),
    ]


def _move_prices(day: date, factor: Decimal) -> int:
    """Every security's close on `day`: its last close times `factor` (a market move: the night's
    plans change their quantities)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO portfolios_price (security_id, date, close, source, updated_at) "
            "SELECT DISTINCT ON (security_id) security_id, %s, round(close * %s, 4), 'bench', now() "
            "FROM portfolios_price WHERE date < %s ORDER BY security_id, date DESC "
            "ON CONFLICT DO NOTHING",
            [day, factor, day],
        )
        return cursor.rowcount


def _line(label: str, accounts: int, took: float, counts: dict[str, int], chunks: str) -> tuple[str, str]:
    return (
        f"{label}: {accounts:,} accounts, {counts.get('proposals', 0):,} proposals "
        f"({counts.get('needed', 0):,} with trades), {counts.get('failed', 0)} failed; chunks by worker: {chunks}",
        f"{took:.1f} s = {accounts / took:,.0f} accounts/s",
    )


def run():
    from demo.scale import seed_scale
    from kronos.celery import app
    from operations.stages import _modelled_accounts

    d0, d1, d2, d3, d4 = _trading_days_before(timezone.localdate(), 5)
    figures = []
    started = time.perf_counter()
    counts = seed_scale(accounts=ACCOUNTS, as_of=d0)  # prices of D0: D1 and D2 see the same closes, D3 moved ones
    figures.append(
        (
            f"seed_scale: {counts['accounts']:,} accounts, {counts['positions']:,} holdings",
            f"{time.perf_counter() - started:.1f} s",
        )
    )
    accounts = len(_modelled_accounts(d0))
    saved = {name: getattr(settings, name, None) for name in ("OPERATIONS_CHUNK_SIZE", "OPERATIONS_QUEUE")}
    if CHUNK:
        settings.OPERATIONS_CHUNK_SIZE = CHUNK  # stage_start reads it when it makes the chunks
    settings.OPERATIONS_QUEUE = QUEUE  # every task of the job goes to the bench's queue

    connection.close()  # the workers open their own connections; this process reconnects when polling
    workers = Workers(["bench-a", "bench-b"])
    try:
        workers.start()

        def stored(day: date) -> tuple[str, str]:
            after = _proposal_bytes()
            grew = {name: after[name] - before.get(name, 0) for name in after}
            parts = ", ".join(f"{name.removeprefix('trading_')} {size / accounts:,.0f}" for name, size in grew.items())
            return (
                f"  proposal storage written by the night of {day}",
                f"{sum(grew.values()) / accounts:,.0f} bytes per account ({parts})",
            )

        before = _proposal_bytes()
        took, counts, chunks = _scan(d0, workers)
        figures.append(_line(f"warm-up, cold ({d0}), 2 workers", accounts, took, counts, chunks))
        figures.append(stored(d0))

        workers.consume("bench-b", on=False)
        before = _proposal_bytes()
        documents = _last_document_id()
        took, counts, chunks = _scan(d1, workers)
        one = took
        figures.append(
            _line(f"drift scan + proposals, 1 worker ({d1}, prices unchanged)", accounts, took, counts, chunks)
        )
        figures.append(stored(d1))
        figures += _floor_lines(d1, one, documents)

        workers.consume("bench-b", on=True)
        took, counts, chunks = _scan(d2, workers)
        figures.append(
            _line(f"drift scan + proposals, 2 workers ({d2}, prices unchanged)", accounts, took, counts, chunks)
        )
        figures.append(("speed-up, 2 workers over 1", f"{one / took:.2f}x"))

        # A market move: every close 3% up, so most plans that trade change their quantities and
        # their open proposals are expired and written again.
        _move_prices(d3, Decimal("1.03"))
        before = _proposal_bytes()
        documents = _last_document_id()
        took, counts, chunks = _scan(d3, workers)
        figures.append(
            _line(f"drift scan + proposals, 2 workers ({d3}, every close +3%)", accounts, took, counts, chunks)
        )
        figures.append(stored(d3))
        figures += _floor_lines(d3, took, documents)

        # The steady state: another market move the next night, after a VACUUM of the proposal
        # tables -- what autovacuum does after a night that expired a proposal per account -- so
        # the space of the rows the expiry replaced is reused, as it is night after night in a
        # live database. What a night adds then is what the book grows by a year.
        _vacuum(PROPOSAL_TABLES)
        _move_prices(d4, Decimal("1.03"))
        before = _proposal_bytes()
        took, counts, chunks = _scan(d4, workers)
        figures.append(
            _line(f"drift scan + proposals, 2 workers ({d4}, every close +3% again)", accounts, took, counts, chunks)
        )
        steady = stored(d4)
        figures.append((steady[0].replace("written by", "steady state: written, after VACUUM, by"), steady[1]))
    finally:
        workers.stop()
        for name, value in saved.items():
            setattr(settings, name, value)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(QUEUE)
    if ACCOUNTS < 100_000:
        figures.append((f"(a book of {ACCOUNTS:,} accounts: BENCH_BATCH_ACCOUNTS)", ""))
    load = os.getloadavg()
    figures.append(("load average (1, 5, 15 min) at the end", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"))
    return figures
