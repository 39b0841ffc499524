"""Cached answers for pages and API reads, kept per firm until a write to that firm commits.

An answer is cached under (SHARED's version, the reader's firm's version, user and roles,
business date, full path). A version moves when a committed write names its scope: every audited
write does, through its history row (`scopes`); writes without history (prices, COPYs) name
theirs (`touch`). No SQL is watched, and no security lookup is cached: the signed-in user, OAuth
tokens and second-factor devices are read from the database on every request.

A firm's writes make only that firm's answers stale; reference data (securities, prices) and a
write whose firm cannot be named move SHARED, everyone's. Disabled (READ_CACHE_SECONDS=0) with a
per-process cache (local memory in `make run`), where one process cannot see another's writes.
"""

from kronos.readcache.answers import (
    COMPUTE_LOCK_SECONDS,
    COMPUTE_WAIT_SECONDS,
    READS,
    cached,
    reader_scopes,
    remember,
)
from kronos.readcache.decorators import cached_page, cached_read, csrf_placeholder, csrf_placeholder_text
from kronos.readcache.scopes import (
    firms_by_paths,
    register,
    register_paths,
    register_shared,
    remember_firm,
    scopes_of,
    touch_rows,
)
from kronos.readcache.versions import (
    BUMP_FAILURES,
    SHARED,
    RequestVersionMiddleware,
    bump,
    copy_rows,
    enabled,
    firm_scope,
    touch,
    version,
    versions,
)

__all__ = [
    "BUMP_FAILURES",
    "COMPUTE_LOCK_SECONDS",
    "COMPUTE_WAIT_SECONDS",
    "READS",
    "SHARED",
    "RequestVersionMiddleware",
    "bump",
    "cached",
    "cached_page",
    "cached_read",
    "copy_rows",
    "csrf_placeholder",
    "csrf_placeholder_text",
    "enabled",
    "firm_scope",
    "firms_by_paths",
    "reader_scopes",
    "register",
    "register_paths",
    "register_shared",
    "remember",
    "remember_firm",
    "scopes_of",
    "touch",
    "touch_rows",
    "version",
    "versions",
]
