"""Fixed-window rate limits: one counter per key and window, one cache round trip per request.

DRF's own throttles keep a list of every request time of the last window in the cache and
read, unpickle, filter, pickle and write it back on each request: at the API's 6,000/min
that list holds up to 6,000 floats, moved twice per request. A fixed-window counter costs an
INCR (and, once per window, an EXPIRE) in one Redis pipeline and allows at most twice the
rate across a window edge, which is what a rate limit is for: stopping floods, not metering.

`hit()` serves the DRF throttles below and the OAuth token endpoint's middleware.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from prometheus_client import Counter
from rest_framework import throttling

from kronos import cache as kcache

logger = logging.getLogger(__name__)

FALLBACKS = Counter(
    "kronos_ratelimit_fallback_total",
    "Rate-limit hits counted in process because Redis could not be reached (degraded mode).",
)


def hit(key: str, window: int) -> tuple[int, int]:
    """Count one request for `key` in the current `window`-second window.

    Returns (requests in this window including this one, seconds until the window ends).
    With Redis configured but unreachable the request is counted by the in-process limiter
    (`LOCAL`): bounded, per process, logged and counted in kronos_ratelimit_fallback_total.
    """
    now = int(time.time())
    slot = now // window
    seconds_left = window - now % window
    full_key = cache.make_and_validate_key(f"kronos:rate:{key}:{window}:{slot}")
    client = _redis_client(full_key)
    if client is not None:
        if kcache.available():
            try:
                pipe = client.pipeline(transaction=False)
                pipe.incr(full_key)
                pipe.expire(full_key, window + 1, nx=True)
                count, _ = pipe.execute()
            except kcache.UNREACHABLE as exc:
                kcache.note_failure("ratelimit", exc)
            else:
                kcache.note_success()
                return int(count), seconds_left
        FALLBACKS.inc()
        return LOCAL.hit(f"{key}:{window}", slot), seconds_left
    # Any other cache (local memory in `make run`): add then incr, the portable pair.
    raw_key = f"kronos:rate:{key}:{window}:{slot}"
    cache.add(raw_key, 0, window + 1)
    try:
        return int(cache.incr(raw_key)), seconds_left
    except ValueError:  # evicted between add and incr: this request is the first
        return 1, seconds_left


class LocalWindows:
    """Fixed-window counters in this process, for while Redis is away.

    Bounded: at most RATELIMIT_LOCAL_MAX_KEYS counters (the oldest dropped first), and a
    counter of a past window is dropped when met. Per process, so with N web processes a
    client may get up to N times its rate during an outage: still a limit, not none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def max_keys(self) -> int:
        return int(getattr(settings, "RATELIMIT_LOCAL_MAX_KEYS", 10_000))

    def hit(self, key: str, slot: int) -> int:
        with self._lock:
            seen_slot, count = self._counts.pop(key, (slot, 0))
            count = count + 1 if seen_slot == slot else 1
            self._counts[key] = (slot, count)
            while len(self._counts) > self.max_keys():
                self._counts.popitem(last=False)
            return count

    def __len__(self) -> int:
        return len(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


LOCAL = LocalWindows()


def _redis_client(full_key: str) -> Any | None:
    """The redis-py client behind Django's RedisCache, or None for any other backend."""
    default = caches["default"]  # `cache` is a proxy: ask the backend itself
    get_client = getattr(getattr(default, "_cache", None), "get_client", None)
    if get_client is None or not isinstance(default, RedisCache):
        return None
    return get_client(full_key, write=True)


class _FixedWindow:
    """Replaces SimpleRateThrottle's request log with `hit()`'s counter; keys and rates unchanged."""

    rate: str | None
    num_requests: int | None
    duration: int | None

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if key is None:
            return True
        if self.num_requests is None or self.duration is None:  # no rate parsed: nothing to hold to
            return True
        count, self._wait = hit(key, self.duration)
        return count <= self.num_requests

    def wait(self) -> float | None:
        return float(getattr(self, "_wait", self.duration or 0))


class AnonRateThrottle(_FixedWindow, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_FixedWindow, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(_FixedWindow, throttling.ScopedRateThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        # DRF's version: the view's throttle_scope picks the rate; no scope, no limit.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class MoneyRateThrottle(UserRateThrottle):
    """The "money" rate (API_THROTTLE_MONEY) on the writes of a money-moving view; its reads
    stay under the user rate alone."""

    scope = "money"

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)


def money_moving(view: Any) -> Any:
    """Decorate a function view (under @api_view) whose writes move money or place orders:
    the default throttles plus the "money" rate. Class views set `throttle_scope = "money"`."""
    # Imported here: rest_framework.views reads DEFAULT_THROTTLE_CLASSES, which name this module.
    from rest_framework.decorators import throttle_classes
    from rest_framework.settings import api_settings

    defaults: list[Any] = list(api_settings.DEFAULT_THROTTLE_CLASSES)
    return throttle_classes([*defaults, MoneyRateThrottle])(view)
