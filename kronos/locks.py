"""Short named locks: in Redis when it answers, in the database when it does not.

    with try_lock("operations:job-lock:nightly:2026-12-03", ttl=60) as held:
        if not held:
            return  # someone else holds it

Redis (`cache.add` with a time-to-live) is the fast path. When Redis cannot be reached
(kronos/cache.py raises CacheUnavailable) the lock is taken in PostgreSQL instead, as a
session advisory lock (`pg_try_advisory_lock` on a 64-bit hash of the name, released on
exit), so two processes still never both hold it: degraded mode never means "no lock". On
SQLite (the embedded demo, one machine) a process-wide lock per name stands in; SQLite's own
write lock serialises the writes under it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.db import connection

from kronos.cache import CacheUnavailable

logger = logging.getLogger(__name__)

_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


def advisory_key(name: str) -> int:
    """A signed 64-bit key for `name` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def try_lock(name: str, *, ttl: int) -> Iterator[bool]:
    """Yield True when this process now holds `name` (for at most `ttl` seconds in Redis), False
    when another does. Never blocks."""
    try:
        held = bool(cache.add(name, "1", ttl))
    except CacheUnavailable:
        logger.warning("lock %s: Redis unreachable, taking it in the database", name)
        with _database_lock(name) as held_in_db:
            yield held_in_db
        return
    try:
        yield held
    finally:
        if held:
            cache.delete(name)


@contextmanager
def _database_lock(name: str) -> Iterator[bool]:
    if connection.vendor == "postgresql":
        key = advisory_key(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    with _local_guard:
        lock = _local_locks.setdefault(name, threading.Lock())
    held = lock.acquire(blocking=False)
    try:
        yield held
    finally:
        if held:
            lock.release()
