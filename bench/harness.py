"""Shared benchmark helpers: a scratch database, timing, and reading the shared price data."""

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.test.utils import setup_databases, teardown_databases

SHARED_DATA = Path(settings.BASE_DIR).parent / "shared" / "data"


@contextlib.contextmanager
def scratch_database() -> Iterator[None]:
    """A fresh, migrated database (test_<name>) for the run, dropped afterwards."""
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
