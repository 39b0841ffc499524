"""Answers kept under their scopes' data versions: `cached()` (one computation per answer) and
`remember()` (what one user sees at one URL).

Why this is safe: a reader takes the versions *before* it reads the data, and a write moves its
scopes' versions *after* its commit. Whatever a reader caches under version v was read after v
was current, so it is at least as new as every write that moved the version to v. Answers cached
while a commit was landing are filed under a version that is already (or about to be) old. What
names no scope (an operator's psql session, a restored backup) is bounded by READ_CACHE_SECONDS;
when the cache cannot be reached reads skip it and writes log it, and when it is back SHARED
moves once (kronos/cache.py), since the writes made meanwhile could not move anything."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection as default_connection
from django.utils import timezone
from prometheus_client import Counter

from kronos.readcache.versions import (
    SHARED,
    database_scope,
    enabled,
    firm_scope,
    known_versions,
    read_versions,
    settle_own_writes,
    version_key,
    versions,
)

logger = logging.getLogger(__name__)


READS = Counter(
    "kronos_read_cache_total",
    "Cached reads by outcome: hit, miss (computed and stored), shared (waited for another reader's computation), "
    "bypass (cache off or unreachable).",
    ["outcome"],
)


# --- serving reads --------------------------------------------------------------------------------


_MISSING = object()


def cached(
    name: str,
    compute: Callable[[], Any],
    *,
    scopes: tuple[str, ...] = (SHARED,),
    store: Callable[[Any], bool] = lambda _: True,
) -> Any:
    """`compute()`'s result under `name` and the current versions of `scopes` (what the answer
    reads: SHARED and the reader's firm): from the cache when it has it, else computed and kept
    (when `store(result)`) for READ_CACHE_SECONDS. The versions are read before anything is
    computed (see the module docstring)."""
    if not enabled():
        return compute()
    try:
        settle_own_writes(default_connection)
        # One computation per answer: the first reader to miss computes it; readers that miss
        # while it does wait for its answer instead of all asking the database at once (after
        # every write, every busy page would otherwise be computed by every request in flight).
        # The answer is good for them: it was computed after the version they read was current.
        # The request's first read takes the versions with the answer (one round trip).
        got = None if known_versions(scopes) is not None else _versions_get_or_lock(scopes, name)
        if got is not None:
            key, found, leader = got
        else:
            stamp = ".".join(str(v) for v in versions(scopes))
            key = f"kronos:read:{database_scope()}:{':'.join(scopes)}:{stamp}:{name}"
            found, leader = _get_or_lock(key, f"{key}:computing")
        lock = f"{key}:computing"
    except Exception:  # no cache: answer from the database
        logger.warning("read cache unreachable; answering from the database", exc_info=True)
        READS.labels("bypass").inc()
        return compute()
    if found is not _MISSING:
        READS.labels("hit").inc()
        return found
    if not leader:
        found = _wait_for(key, lock)
        if found is not _MISSING:
            READS.labels("shared").inc()
            return found
    kept = False
    try:
        result = compute()
        if store(result):
            READS.labels("miss").inc()
            try:
                _set_and_unlock(key, result, lock if leader else None)
                kept = True
            except Exception:  # the answer is good; only its copy is lost
                logger.warning("read cache: could not store an answer", exc_info=True)
    finally:
        if leader and not kept:
            try:
                cache.delete(lock)
            except Exception:
                logger.warning("read cache: could not release a computation lock", exc_info=True)
    return result


_STAMP = "{versions}"


def _versions_get_or_lock(scopes: tuple[str, ...], name: str) -> tuple[str, Any, bool] | None:
    """The scopes' versions read (and kept for the request) with the answer under them or its
    computation's lock, in one round trip where the cache can (kronos.cache.RedisCache): the
    answer's key, the answer (or _MISSING) and whether this reader leads. None: ask in steps."""
    fast = getattr(cache, "versions_get_or_lock", None)
    if fast is None or _STAMP in name:
        return None
    template = f"kronos:read:{database_scope()}:{':'.join(scopes)}:{_STAMP}:{name}"
    got = fast(
        [version_key(s) for s in scopes],
        time.time_ns() // 1000,
        template,
        _STAMP,
        ":computing",
        COMPUTE_LOCK_SECONDS,
        default=_MISSING,
    )
    if got is None:
        return None
    numbers, found, leader = got
    read_versions(scopes, numbers)
    return template.replace(_STAMP, ".".join(str(v) for v in numbers)), found, bool(leader)


def _get_or_lock(key: str, lock: str) -> tuple[Any, bool]:
    """The answer under `key` (or _MISSING) and, when there is none, whether this reader took
    the computation's `lock`: one round trip where the cache can (kronos.cache.RedisCache),
    else a get and an add. A lock that cannot be taken for want of a cache leads."""
    fast = getattr(cache, "get_or_lock", None)
    if fast is not None:
        found, leader = fast(key, lock, COMPUTE_LOCK_SECONDS, default=_MISSING)
        return found, bool(leader)
    found = cache.get(key, _MISSING)
    if found is not _MISSING:
        return found, False
    try:
        return _MISSING, bool(cache.add(lock, 1, timeout=COMPUTE_LOCK_SECONDS))
    except Exception:  # noqa: BLE001 -- no cache: compute
        return _MISSING, True


def _set_and_unlock(key: str, result: Any, lock: str | None) -> None:
    """Keep `result` under `key` for READ_CACHE_SECONDS and release `lock` (when this reader
    holds it): one round trip where the cache can, else a set and a delete."""
    timeout = int(settings.READ_CACHE_SECONDS)
    fast = getattr(cache, "set_and_unlock", None)
    if fast is not None:
        fast(key, result, timeout, lock)
        return
    cache.set(key, result, timeout=timeout)
    if lock is not None:
        cache.delete(lock)


#: How long one reader may hold an answer's computation for itself (a crashed one included),
#: and how long the others wait for it before computing it themselves.
COMPUTE_LOCK_SECONDS = 30
COMPUTE_WAIT_SECONDS = 2.0


def _wait_for(key: str, lock: str) -> Any:
    """The answer another reader is computing under `lock`: _MISSING when it gave up without
    storing one (an answer not kept, an error) or took longer than COMPUTE_WAIT_SECONDS."""
    deadline = time.monotonic() + COMPUTE_WAIT_SECONDS
    pause = 0.002
    while time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
        try:
            found = cache.get_many([key, lock])
        except Exception:  # noqa: BLE001 -- compute it here
            return _MISSING
        if key in found:
            return found[key]
        if lock not in found:
            return _MISSING
    return _MISSING


def remember(
    request: Any, name: str, compute: Callable[[], Any], *, store: Callable[[Any], bool] = lambda _: True
) -> Any:
    """`cached()` for what one user of a firm sees at one URL on one business date, under the
    firm's and SHARED's versions, with the user's roles in the key (a role taken away is a new
    key). Users of no firm (investors, superusers) are answered from the database. The result
    must pickle and must carry nothing of the session (no CSRF tokens: cache data and fragments,
    not whole pages).

    Inside a page `cached_page` is computing, a part is computed without asking the cache: the
    page's copy under these versions is missing, and so are its parts under the same versions
    unless a render that skipped the page's cache (flash messages waiting) kept them since the
    data last changed; asking for them and keeping them cost Redis two round trips a part for
    that rare hit. Those renders still keep and use their parts."""
    if getattr(request, "_kronos_computing_page", False):
        return compute()
    scopes = reader_scopes(request.user)
    if scopes is None:
        return compute()
    path = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    htmx = "h" if request.headers.get("HX-Request") else "p"
    day = timezone.localdate().isoformat()
    roles = hashlib.sha256(",".join(sorted(request.user.roles)).encode()).hexdigest()[:12]
    return cached(f"{name}:{request.user.pk}:{roles}:{day}:{htmx}:{path}", compute, scopes=scopes, store=store)


def reader_scopes(user: Any) -> tuple[str, ...] | None:
    """The scopes a user's answers read: SHARED and their firm's; None for a user of no firm
    (their answers are not cached)."""
    firm_id = getattr(user, "firm_id", None) if getattr(user, "is_authenticated", False) else None
    if firm_id is None or getattr(user, "is_superuser", False):
        return None
    return (SHARED, firm_scope(firm_id))
