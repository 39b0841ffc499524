"""Drift through the database: 10,000 accounts of 20 holdings, engine_snapshots + calculate_drift in chunks.

The book is built with `demo.books.bulk_book` (COPY, balanced ledger, history rows). Times are
the best of 3 runs: the bench machine is shared.
"""

import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from accounts.services import system_user
from bench.harness import per_second, timed
from demo.books import bulk_book
from portfolios import rebalancing, selectors, services
from portfolios.models import Security
from tests.accounts.factories import HouseholdFactory

ACCOUNTS = 10_000
HOLDINGS = 20
CHUNK = 1000


def build() -> list[int]:
    user = system_user()
    symbols = [f"D{i:02d}" for i in range(HOLDINGS)]
    for symbol in symbols:
        if not Security.objects.filter(symbol=symbol).exists():
            services.security_create(symbol=symbol, acting_user=user)
    today = date.today()
    services.prices_store(
        rows=[
            services.PriceRow(symbol, today - timedelta(days=d), Decimal(50 + i + d))
            for i, symbol in enumerate(symbols)
            for d in range(5)
        ]
    )
    household = HouseholdFactory()
    model = services.model_portfolio_create(
        firm=household.firm,
        name="Bench 20",
        risk_level=5,
        targets={s: Decimal("0.049") for s in symbols},
        cash_target=Decimal("0.02"),
        acting_user=user,
    )
    return bulk_book(
        households=household.pk,
        holdings=[{s: Decimal(10 + (n + i) % 17) for i, s in enumerate(symbols)} for n in range(ACCOUNTS)],
        cash=Decimal("1000.00"),
        acting_user=user,
        models=model.pk,
        prefix="DRIFTDB",  # bench_book numbers its accounts BENCH-…; each bench its own
    )


def _cpu(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def run() -> list[tuple[str, str]]:
    build_seconds, ids = timed(build)

    def drift_all() -> int:
        breached = 0
        for start in range(0, len(ids), CHUNK):
            snapshots = selectors.engine_snapshots(account_ids=ids[start : start + CHUNK])
            breached += sum(rebalancing.calculate_drift(s).breached for s in snapshots.values())
        return breached

    def snapshots_only() -> int:
        return sum(len(selectors.engine_snapshots(account_ids=ids[s : s + CHUNK])) for s in range(0, len(ids), CHUNK))

    snap_seconds, _ = timed(snapshots_only, repeat=3)
    one_chunk, _ = timed(lambda: selectors.engine_snapshots(account_ids=ids[:CHUNK]), repeat=5)
    cpu = min(_cpu(lambda: selectors.engine_snapshots(account_ids=ids[:CHUNK])) for _ in range(5))
    seconds, breached = timed(drift_all, repeat=3)
    return [
        (
            f"build {ACCOUNTS:,} accounts x {HOLDINGS} holdings (bulk_book: COPY, ledger, history)",
            per_second(len(ids), build_seconds),
        ),
        (f"engine_snapshots only, chunks of {CHUNK}", per_second(len(ids), snap_seconds)),
        (f"engine_snapshots, one chunk of {CHUNK} (best of 5)", per_second(CHUNK, one_chunk)),
        ("  of which this process's CPU (psycopg decoding + building), best of 5", f"{cpu * 1000:.0f} ms"),
        (f"engine_snapshots + calculate_drift, chunks of {CHUNK} (accounts/s)", per_second(len(ids), seconds)),
        ("accounts breaching their band", f"{breached:,}"),
    ]
