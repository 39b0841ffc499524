"""Shared benchmark helpers: a scratch database, timing, and reading the shared price data."""

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.test.utils import setup_databases, teardown_databases

SHARED_DATA = Path(settings.SHARED_DATA_DIR)


@contextlib.contextmanager
def scratch_database() -> Iterator[None]:
    """A fresh, migrated database (bench_<name>) for the run, dropped afterwards.

    Its own name, so a benchmark never drops the test suite's test_<name> database."""
    for alias in settings.DATABASES:
        db = settings.DATABASES[alias]
        db.setdefault("TEST", {})["NAME"] = f"bench_{db['NAME']}" if db["ENGINE"].endswith("postgresql") else None
    old = setup_databases(verbosity=0, interactive=False, keepdb=False)
    try:
        yield
    finally:
        connection.close()
        teardown_databases(old, verbosity=0)


def timed(fn: Callable[[], Any], *, repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` runs of fn, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s ({count:,} in {seconds:.2f} s)"
