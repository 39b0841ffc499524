"""The data version: noticing writes on every connection and moving the version after they commit."""

from __future__ import annotations

import logging
import re
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


def database_scope() -> str:
    """The database the answers come from: one version per database (parallel test runs each
    have their own), and answers of one database never served for another."""
    return str(default_connection.settings_dict["NAME"])


#: Tables whose writes no cached answer reads: sessions, login attempts, Celery's own books.
#: (OAuth tokens and second-factor devices are not ignored: token lookups and the signed-in
#: user's device are cached too, so a revoked token or device counts from the next request.)
IGNORED_TABLES = (
    "django_session",
    "axes_",
    "django_celery_beat_",
    "django_celery_results_",
    "django_admin_log",
    # Events and webhook deliveries: no cached answer reads them (the events replay is not
    # cached), and the relay's publishing and retries would otherwise move the version.
    "accounts_event",
    "accounts_webhookdelivery",
    "accounts_webhookattempt",
)

_WRITE = re.compile(
    r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|MERGE\s+INTO)\s+(?:ONLY\s+)?"?([\w.]+)"?',
    re.IGNORECASE,
)
_CTE_WRITE = re.compile(r"\b(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)

BUMP_FAILURES = Counter(
    "kronos_read_cache_bump_failures_total",
    "Data-version moves that could not reach the cache (answers may stay stale up to READ_CACHE_SECONDS).",
)


def enabled() -> bool:
    return int(getattr(settings, "READ_CACHE_SECONDS", 0)) > 0


# --- noticing writes ------------------------------------------------------------------------------


def _writes_tracked_table(sql: str) -> bool:
    head = sql.lstrip()[:12].upper()
    if head.startswith(("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "SET ", "SHOW", "BEGIN", "COMMIT")):
        return False
    if head.startswith("WITH"):
        return bool(_CTE_WRITE.search(sql))
    match = _WRITE.match(sql)
    if match is None:
        return head.startswith(("COPY", "ALTER", "CREATE", "DROP"))  # schema changes and COPY: stale
    table = match.group(1).lower()
    return not table.startswith(IGNORED_TABLES)


def _watch(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    result = execute(sql, params, many, context)
    if isinstance(sql, str) and _writes_tracked_table(sql):
        note_write(context["connection"])
    return result


def install(connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: watch this connection's statements (once per wrapper)."""
    if _watch not in connection.execute_wrappers:
        connection.execute_wrappers.append(_watch)


def note_write(connection: BaseDatabaseWrapper | None = None) -> None:
    """Record that `connection` changed data: the version moves now (autocommit) or at commit."""
    connection = connection or default_connection
    if not enabled():
        return
    if not connection.in_atomic_block:
        bump()
        return
    connection._kronos_read_dirty = True  # type: ignore[attr-defined]  # read-your-writes, see _pending_in_transaction
    if not any(entry[1] is bump for entry in connection.run_on_commit):
        connection.on_commit(bump, robust=True)


def settle_own_writes(connection: BaseDatabaseWrapper) -> None:
    """Before a cached read on a connection that wrote in its still-open transaction: move the
    version, so the read does not find an answer cached before those writes."""
    if connection.in_atomic_block and getattr(connection, "_kronos_read_dirty", False):
        bump()
        connection._kronos_read_dirty = False  # type: ignore[attr-defined]


#: Inside a request (RequestVersionMiddleware): the data version read once and used for every
#: cached read of that request. Safe by the same argument as above: everything the request
#: computes is read after that version was current. A write in the request forgets it.
_request_memo: ContextVar[dict[str, int] | None] = ContextVar("kronos_read_version", default=None)


class RequestVersionMiddleware:
    """Read the data version at most once per request (one cache round trip instead of one per
    cached read: the session user, their device, the page)."""

    def __init__(self, get_response: Callable[[Any], Any]):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _request_memo.set({})
        try:
            return self.get_response(request)
        finally:
            _request_memo.reset(token)


def bump() -> None:
    """Move the data version (after a committed write; and when Redis returns after an outage,
    since the writes made meanwhile could not move it: kronos/cache.py's recovery hook)."""
    memo = _request_memo.get()
    if memo:
        memo.clear()
    try:
        # Seeded from the clock, so a version key lost to eviction restarts above every old one.
        key = f"kronos:read:version:{database_scope()}"
        cache.add(key, time.time_ns() // 1000, timeout=None)
        cache.incr(key)
    except Exception:  # the write itself is done and committed; the cache must not undo it
        BUMP_FAILURES.inc()
        logger.warning("read cache: could not move the data version", exc_info=True)


kcache.on_recovery(bump)


def version() -> int:
    memo = _request_memo.get()
    scope = database_scope()
    if memo is not None and scope in memo:
        return memo[scope]
    key = f"kronos:read:version:{scope}"
    current = cache.get(key)
    if current is None:
        cache.add(key, time.time_ns() // 1000, timeout=None)
        current = cache.get(key)
    if memo is not None:
        memo[scope] = int(current)
    return int(current)


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL COPY of `rows` (values in `columns` order, as psycopg adapts them) into `table`
    on the default connection, noted as a write. Names are quoted here (an already-quoted name
    is kept); database errors (a unique key taken) raise as Django's."""
    ops = default_connection.ops
    names = ", ".join(ops.quote_name(c) for c in columns)
    with (
        default_connection.wrap_database_errors,
        default_connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {ops.quote_name(table)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    note_write(default_connection)
