"""Data versions per scope, moved explicitly by the writes that change a scope, after they commit.

A scope is what a cached answer depends on: `firm:<id>` (the firm's clients, accounts, orders,
models...) or SHARED (reference data every firm reads: securities, prices, corporate actions).
A firm's reader's answers are kept under both versions (see `answers.cached`).

Writes name their scopes, no SQL is parsed:
- every audited write names itself: each history row (one save, or a bulk of them through
  simple_history or `kronos.bulk`) touches the scopes of the rows it records
  (`kronos.readcache.scopes`, resolved from the rows' firm paths);
- writes without history (price imports, COPYs) call `touch()` themselves.
Inside a transaction the touched scopes move once, when it commits (a rollback moves nothing);
in autocommit at once. A read on a connection whose open transaction touched a scope moves it
first, so code that writes and then reads in one transaction reads its writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from prometheus_client import Counter

from kronos import cache as kcache

logger = logging.getLogger(__name__)

#: Reference data read by every firm (securities, prices, corporate actions, the watch list); also
#: the scope of a write whose firm cannot be named, so that nothing is left stale.
SHARED = "shared"


def firm_scope(firm_id: int) -> str:
    return f"firm:{firm_id}"


def database_scope() -> str:
    """The database the answers come from: one set of versions per database (parallel test runs
    each have their own), and answers of one database never served for another."""
    return str(default_connection.settings_dict["NAME"])


BUMP_FAILURES = Counter(
    "kronos_read_cache_bump_failures_total",
    "Data-version moves that could not reach the cache (answers may stay stale up to READ_CACHE_SECONDS).",
)


def enabled() -> bool:
    return int(getattr(settings, "READ_CACHE_SECONDS", 0)) > 0


# --- writes name their scopes ---------------------------------------------------------------------


class _Pending:
    """The scopes an open transaction touched, moved by one on_commit callback."""

    def __init__(self) -> None:
        self.scopes: set[str] = set()

    def __call__(self) -> None:
        bump(*self.scopes)


def touch(*scopes: str, connection: BaseDatabaseWrapper | None = None) -> None:
    """Record that `scopes` changed on `connection`: moved now (autocommit) or when it commits."""
    if not scopes or not enabled():
        return
    connection = connection or default_connection
    if not connection.in_atomic_block:
        bump(*scopes)
        return
    pending: _Pending | None = getattr(connection, "_kronos_pending", None)
    # The callback of an earlier transaction, or one dropped with a rolled-back savepoint, is gone
    # from run_on_commit: start a new one (what it held was committed or rolled back).
    if pending is None or not any(entry[1] is pending for entry in connection.run_on_commit):
        pending = _Pending()
        connection._kronos_pending = pending  # type: ignore[attr-defined]
        connection.on_commit(pending, robust=True)
    pending.scopes.update(scopes)
    connection._kronos_read_dirty = True  # type: ignore[attr-defined]  # see settle_own_writes


def settle_own_writes(connection: BaseDatabaseWrapper) -> None:
    """Before a cached read on a connection that wrote in its still-open transaction: move the
    scopes it touched, so the read does not find an answer cached before those writes."""
    if connection.in_atomic_block and getattr(connection, "_kronos_read_dirty", False):
        pending: _Pending | None = getattr(connection, "_kronos_pending", None)
        if pending is not None:
            bump(*pending.scopes)
        connection._kronos_read_dirty = False  # type: ignore[attr-defined]


#: Inside a request (RequestVersionMiddleware): the versions read once and used for every cached
#: read of that request. Safe by the argument in answers.py: everything the request computes is
#: read after those versions were current. A write in the request forgets them.
_request_memo: ContextVar[dict[str, int] | None] = ContextVar("kronos_read_version", default=None)


class RequestVersionMiddleware:
    """Read each scope's version at most once per request."""

    def __init__(self, get_response: Callable[[Any], Any]):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _request_memo.set({})
        try:
            return self.get_response(request)
        finally:
            _request_memo.reset(token)


def _key(scope: str) -> str:
    return f"kronos:read:version:{database_scope()}:{scope}"


def bump(*scopes: str) -> None:
    """Move the versions of `scopes` (after a committed write; SHARED when Redis returns after an
    outage, since the writes made meanwhile could not move anything: kronos/cache.py's hook)."""
    if not scopes:
        return
    memo = _request_memo.get()
    if memo:
        memo.clear()
    for scope in sorted(scopes):
        try:
            # Seeded from the clock, so a version key lost to eviction restarts above every old one.
            key = _key(scope)
            cache.add(key, time.time_ns() // 1000, timeout=None)
            cache.incr(key)
        except Exception:  # the write itself is done and committed; the cache must not undo it
            BUMP_FAILURES.inc()
            logger.warning("read cache: could not move the data version of %s", scope, exc_info=True)


def _recovered() -> None:
    # Every firm's answers read SHARED's version: moving it makes them all stale at once.
    bump(SHARED)


kcache.on_recovery(_recovered)


def versions(scopes: Sequence[str]) -> tuple[int, ...]:
    """The current versions of `scopes` (read once per request), in their order."""
    memo = _request_memo.get()
    missing = [s for s in scopes if memo is None or s not in memo]
    found: dict[str, int] = {}
    if missing:
        keys = {_key(s): s for s in missing}
        stored = cache.get_many(list(keys))
        for key, scope in keys.items():
            if key not in stored:
                cache.add(key, time.time_ns() // 1000, timeout=None)
                stored[key] = cache.get(key)
            found[scope] = int(stored[key])
        if memo is not None:
            memo.update(found)
    return tuple(found[s] if s in found else memo[s] for s in scopes)  # type: ignore[index]


def known_versions(scopes: Sequence[str]) -> tuple[int, ...] | None:
    """The versions of `scopes` this request has read already, or None (not all read yet)."""
    memo = _request_memo.get()
    if memo is None or any(s not in memo for s in scopes):
        return None
    return tuple(memo[s] for s in scopes)


def read_versions(scopes: Sequence[str], values: Sequence[int]) -> None:
    """Versions read elsewhere (with an answer, in one round trip): kept for the request."""
    memo = _request_memo.get()
    if memo is not None:
        memo.update(zip(scopes, values, strict=True))


def version_key(scope: str) -> str:
    """The cache key of `scope`'s version."""
    return _key(scope)


def version(scope: str = SHARED) -> int:
    return versions([scope])[0]


def copy_rows(
    table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, scopes: Iterable[str] = (SHARED,)
) -> None:
    """PostgreSQL COPY of `rows` (values in `columns` order, as psycopg adapts them) into `table`
    on the default connection, touching `scopes` (the caller names what it changed; by default
    SHARED, everyone's answers: a COPY that does not know its firm leaves nothing stale; a
    temporary staging table: none). Names are quoted here (an already-quoted name is kept);
    database errors (a unique key taken) raise as Django's."""
    ops = default_connection.ops
    names = ", ".join(ops.quote_name(c) for c in columns)
    with (
        default_connection.wrap_database_errors,
        default_connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {ops.quote_name(table)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    touch(*scopes, connection=default_connection)
