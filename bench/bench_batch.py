"""The nightly drift scan with proposal generation at scale, end to end on PostgreSQL.

Builds 100,000 accounts of about 15 holdings (operations.scale.seed_scale, COPY), then runs the
drift-scan chunks exactly as the job does (operations.stages.drift_scan_chunk: E's
proposal_create_for_accounts = A's engine_snapshots in bulk + B's workflow + bulk writes with
history) over chunks of 1,000 accounts:
- with one worker: every chunk in this process, one after the other;
- with two workers: the chunks of a second business date split over two worker processes
  (multiprocessing, each with its own database connection), as two Celery workers would.
Set BENCH_BATCH_ACCOUNTS to measure a smaller book (the figure says so).
"""

import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

from django.db import connection
from django.utils import timezone

ACCOUNTS = int(os.environ.get("BENCH_BATCH_ACCOUNTS", "100000"))
CHUNK = 1000


def _chunks(ids):
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _scan(chunks, day):
    from accounts.services import system_user
    from operations.stages import drift_scan_chunk

    user = system_user()
    proposals = failed = 0
    for chunk in chunks:
        outcome = drift_scan_chunk(account_ids=chunk, business_date=day, acting_user=user)
        proposals += outcome.counts.get("proposals", 0)
        failed += outcome.counts.get("failed", 0)
    return proposals, failed


def _worker(args):
    import django

    django.setup()
    from django.db import connection as conn

    conn.close()
    chunks, day = args
    return _scan(chunks, day)


def run():
    from operations.scale import seed_scale
    from portfolios.models import InvestmentAccount

    figures = []
    started = time.perf_counter()
    counts = seed_scale(accounts=ACCOUNTS)
    figures.append(
        (
            f"seed_scale: {counts['accounts']:,} accounts, {counts['positions']:,} holdings",
            f"{time.perf_counter() - started:.1f} s",
        )
    )
    ids = list(InvestmentAccount.objects.order_by("pk").values_list("pk", flat=True))
    today = timezone.localdate()

    started = time.perf_counter()
    proposals, failed = _scan(_chunks(ids), today)
    one = time.perf_counter() - started
    figures.append(
        (
            f"drift scan + proposals, 1 worker ({len(ids):,} accounts, {proposals:,} proposals, {failed} failed)",
            f"{one:.1f} s = {len(ids) / one:,.0f} accounts/s",
        )
    )

    # A second business date, so the two-worker run does the same work again (not a no-op rerun).
    day = today - timedelta(days=1)
    chunks = _chunks(ids)
    halves = [chunks[0::2], chunks[1::2]]
    connection.close()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kronos.settings")
    os.environ["DATABASE_URL"] = _database_url()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_worker, [(h, day) for h in halves]))
    two = time.perf_counter() - started
    proposals = sum(r[0] for r in results)
    figures.append(
        (
            f"drift scan + proposals, 2 workers ({len(ids):,} accounts, {proposals:,} proposals)",
            f"{two:.1f} s = {len(ids) / two:,.0f} accounts/s",
        )
    )
    if ACCOUNTS < 100_000:
        figures.append(("EXTRAPOLATED to 100,000 accounts, 1 worker (linear)", f"{one * 100_000 / len(ids):.0f} s"))
    return figures


def _database_url():
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
