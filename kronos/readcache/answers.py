"""Answers kept under the data version: `cached()` (one computation per answer) and `remember()`."""

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

from kronos.readcache.versions import database_scope, enabled, settle_own_writes, version

logger = logging.getLogger(__name__)


READS = Counter(
    "kronos_read_cache_total",
    "Cached reads by outcome: hit, miss (computed and stored), shared (waited for another reader's computation), "
    "bypass (cache off or unreachable).",
    ["outcome"],
)


# --- serving reads --------------------------------------------------------------------------------


_MISSING = object()


def cached(name: str, compute: Callable[[], Any], *, store: Callable[[Any], bool] = lambda _: True) -> Any:
    """`compute()`'s result under `name` and the current data version: from the cache when it
    has it, else computed and kept (when `store(result)`) for READ_CACHE_SECONDS. The version
    is read before anything is computed (see the module docstring)."""
    if not enabled():
        return compute()
    try:
        settle_own_writes(default_connection)
        key = f"kronos:read:{database_scope()}:{version()}:{name}"
        found = cache.get(key, _MISSING)
    except Exception:  # no cache: answer from the database
        logger.warning("read cache unreachable; answering from the database", exc_info=True)
        READS.labels("bypass").inc()
        return compute()
    if found is not _MISSING:
        READS.labels("hit").inc()
        return found
    # One computation per answer: the first reader to miss computes it; readers that miss while
    # it does wait for its answer instead of all asking the database at once (after every write,
    # every busy page would otherwise be computed by every request in flight). The answer is
    # good for them: it was computed after the version they read was current.
    lock = f"{key}:computing"
    try:
        leader = bool(cache.add(lock, 1, timeout=COMPUTE_LOCK_SECONDS))
    except Exception:  # noqa: BLE001 -- no cache: compute, as above
        leader = True
    if not leader:
        found = _wait_for(key, lock)
        if found is not _MISSING:
            READS.labels("shared").inc()
            return found
    try:
        result = compute()
        if store(result):
            READS.labels("miss").inc()
            try:
                cache.set(key, result, timeout=int(settings.READ_CACHE_SECONDS))
            except Exception:  # the answer is good; only its copy is lost
                logger.warning("read cache: could not store an answer", exc_info=True)
    finally:
        if leader:
            try:
                cache.delete(lock)
            except Exception:
                logger.warning("read cache: could not release a computation lock", exc_info=True)
    return result


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
    """`cached()` for what one user sees at one URL on one business date. The result must
    pickle and must carry nothing of the session (no CSRF tokens: cache data and fragments,
    not whole pages)."""
    if not request.user.is_authenticated:
        return compute()
    path = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    htmx = "h" if request.headers.get("HX-Request") else "p"
    day = timezone.localdate().isoformat()
    return cached(f"{name}:{request.user.pk}:{day}:{htmx}:{path}", compute, store=store)
