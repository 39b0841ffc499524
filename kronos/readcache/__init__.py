"""Cached answers for the API's reads, made stale by every committed write.

An answer is cached under (data version, user, business date, full path). The data version
is one integer per database in the shared cache; it moves whenever a write becomes visible:

- Every database connection runs `_watch` around its statements (installed when the
  connection is made). An INSERT, UPDATE, DELETE, TRUNCATE or MERGE on any table but the
  housekeeping ones in IGNORED_TABLES marks the connection: in autocommit the version moves at
  once; inside a transaction it moves when the transaction commits (one on_commit per
  transaction), and a rollback moves nothing because nothing became visible.
- A read on the same connection inside that still-open transaction moves it first, so code
  that writes and then reads in one transaction (a test, a management command) reads its writes.
- COPY goes around Django's cursor wrapper: `copy_rows()` is the one place that COPYs into
  tables, and it marks the connection itself.

Why this is safe: a reader takes the version *before* it reads the data, and the version
moves *after* the commit. Whatever a reader caches under version v was read after v was
current, so it is at least as new as every write that moved the version to v. Answers cached
while a commit was landing are filed under a version that is already (or about to be) old.
What no hook sees (an operator's psql session, a restored backup) is bounded by
READ_CACHE_SECONDS, and when the cache cannot be reached reads skip it and writes log it; when
it is back, the version moves once (kronos/cache.py), since the writes made meanwhile could not.

The version is global, so a busy firm's writes also make other firms' answers stale: this
trades hit rate for one simple invariant. Disabled (READ_CACHE_SECONDS=0) with a per-process
cache (local memory in `make run`), where one process cannot see another's writes.
"""

from kronos.readcache.answers import COMPUTE_LOCK_SECONDS, COMPUTE_WAIT_SECONDS, READS, cached, remember
from kronos.readcache.decorators import cached_page, cached_read, csrf_placeholder, csrf_placeholder_text
from kronos.readcache.versions import (
    BUMP_FAILURES,
    IGNORED_TABLES,
    RequestVersionMiddleware,
    bump,
    copy_rows,
    enabled,
    install,
    note_write,
    version,
)

__all__ = [
    "BUMP_FAILURES",
    "COMPUTE_LOCK_SECONDS",
    "COMPUTE_WAIT_SECONDS",
    "IGNORED_TABLES",
    "READS",
    "RequestVersionMiddleware",
    "bump",
    "cached",
    "cached_page",
    "cached_read",
    "copy_rows",
    "csrf_placeholder",
    "csrf_placeholder_text",
    "enabled",
    "install",
    "note_write",
    "remember",
    "version",
]
