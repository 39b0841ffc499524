"""Django's Redis cache, shared client per pool, and degraded mode when Redis is away.

Shared client: Django's RedisCacheClient builds a new `redis.Redis` for every cache operation;
with redis-py 6 that means filling a case-insensitive table of some 170 response callbacks each
time, about as long as the network round trip itself. A `redis.Redis` is safe to share between
threads (it takes a connection from its pool per command), so one per pool serves every call.

Degraded mode: Redis holds only what can be rebuilt (DESIGN.md), so its loss must not take
logins, pages or the API down. Every operation of this backend that cannot reach Redis (a
connection refused, a timeout) degrades instead of raising:

- reads are misses (`get` -> default, `get_many` -> {}, `has_key` -> False), so sessions
  (`cached_db`) load from the database, the read cache computes from the database, and the
  signed-in user and bearer tokens are read from the database;
- writes are skipped (`set`, `delete`, `touch`, `set_many`, `delete_many`, `clear`);
- `add`, `incr` and `decr` raise `CacheUnavailable`: they are what locks and counters are made
  of, and "stored" or "not stored" would both be a lie. Their callers decide: the rate limiter
  counts in process (kronos/ratelimit.py), locks fall back to the database (kronos/locks.py),
  the read cache answers from the database.

A circuit breaker keeps a dead Redis from costing a connection attempt per call: after a
failure the backend stops asking Redis for CACHE_RETRY_SECONDS, then lets the next call try
again; the first success closes it. Nothing needs a restart when Redis returns. On that first
success the recovery hooks run once per process: the read cache's data version moves (writes
made during the outage could not move it) and cached session copies are dropped (a session
changed or ended during the outage was written to the database only), so nothing stale is
served after the outage. `kronos_cache_degraded_total{operation}` counts degraded calls,
`kronos_cache_available` says whether this process currently reaches Redis; `/healthz` reports
"degraded" meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from prometheus_client import Counter, Gauge
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

#: What "Redis is away" looks like from redis-py (a refused or reset connection, a timeout).
UNREACHABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)

DEGRADED = Counter(
    "kronos_cache_degraded_total",
    "Cache operations answered without Redis (a miss, a skipped write, a fallback), by operation.",
    ["operation"],
)
AVAILABLE = Gauge(
    "kronos_cache_available",
    "1 while this process reaches the Redis cache, 0 in degraded mode.",
    multiprocess_mode="min",
)
AVAILABLE.set(1)


class CacheUnavailable(Exception):
    """Redis cannot be reached: a lock or counter operation has no honest answer."""


# --- the circuit breaker (per process) -------------------------------------------------------

_state_lock = threading.Lock()
_open_until = 0.0
_outage = False
_recovery_hooks: list[Callable[[], None]] = []


def retry_seconds() -> float:
    return float(getattr(settings, "CACHE_RETRY_SECONDS", 5))


def available() -> bool:
    """False while the breaker is open (Redis failed less than CACHE_RETRY_SECONDS ago)."""
    return time.monotonic() >= _open_until


def in_outage() -> bool:
    """True from a failure until the next successful call (the breaker open or half-open)."""
    return _outage


def note_failure(operation: str, exc: BaseException | None = None) -> None:
    """Record that Redis could not be reached: open the breaker, count it, log the first."""
    global _open_until, _outage
    DEGRADED.labels(operation).inc()
    with _state_lock:
        first = not _outage
        _outage = True
        _open_until = time.monotonic() + retry_seconds()
    AVAILABLE.set(0)
    if first:
        logger.warning(
            "cache: Redis unreachable (%s); degraded mode: sessions, reads and locks use the database, "
            "rate limits count in process",
            f"{type(exc).__name__}: {exc}" if exc else operation,
        )


def note_success() -> None:
    """A call reached Redis: close the breaker; after an outage run the recovery hooks once."""
    global _outage, _open_until
    if not _outage:
        return
    with _state_lock:
        if not _outage:
            return
        _outage = False
        _open_until = 0.0
    AVAILABLE.set(1)
    logger.warning("cache: Redis reachable again; leaving degraded mode")
    for hook in list(_recovery_hooks):
        try:
            hook()
        except Exception:  # a hook must not fail the request that noticed the recovery
            logger.warning("cache: recovery hook %s failed", getattr(hook, "__name__", hook), exc_info=True)


def on_recovery(hook: Callable[[], None]) -> Callable[[], None]:
    """Register `hook` to run when Redis returns after an outage (once per process and outage)."""
    if hook not in _recovery_hooks:
        _recovery_hooks.append(hook)
    return hook


def reset_for_tests() -> None:
    global _open_until, _outage
    with _state_lock:
        _open_until, _outage = 0.0, False
    AVAILABLE.set(1)


# --- the backend ----------------------------------------------------------------------------


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]  # Django's own, unstubbed
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return client


_MISS = object()

#: get_or_lock: the answer when there is one, else whether this caller took the lock. The lock's
#: value is what Django stores for the integer 1 (`cache.add(lock, 1)`), so readers that
#: `get_many` it see the same.
_GET_OR_LOCK = """
local value = redis.call('GET', KEYS[1])
if value then return {1, value} end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return {0, 1} end
return {0, 0}
"""

# The read cache's versions and an answer-or-lock together (kronos/readcache/answers.py): the
# scopes' versions (KEYS; a missing one seeded with ARGV[2], as versions.versions() does), the
# answer's key made of them (ARGV[3] around ARGV[4], the stamp's place), then as _GET_OR_LOCK
# with the lock's suffix ARGV[5] and timeout ARGV[6]. The answer's key is not among KEYS: one
# Redis, not a cluster (as everything else here).
_VERSIONS_GET_OR_LOCK = """
local stamp = {}
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if not v then
    redis.call('SET', KEYS[i], ARGV[2], 'NX')
    v = redis.call('GET', KEYS[i])
  end
  stamp[i] = v
end
local at, to = string.find(ARGV[3], ARGV[4], 1, true)
local key = string.sub(ARGV[3], 1, at - 1) .. table.concat(stamp, '.') .. string.sub(ARGV[3], to + 1)
local value = redis.call('GET', key)
if value then return {stamp, 1, value} end
if redis.call('SET', key .. ARGV[5], '1', 'NX', 'EX', ARGV[6]) then return {stamp, 0, 1} end
return {stamp, 0, 0}
"""


class RedisCache(DjangoRedisCache):
    """Django's RedisCache with the shared client and degraded mode (see the module docstring)."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        # A dead or black-holed Redis must cost a request a second at most, not hang it.
        options.setdefault("socket_connect_timeout", float(getattr(settings, "CACHE_CONNECT_TIMEOUT", 1.0)))
        options.setdefault("socket_timeout", float(getattr(settings, "CACHE_SOCKET_TIMEOUT", 2.0)))
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = SharedClientRedisCacheClient
        self._scripts: dict[int, Any] = {}  # get_or_lock's registered script, per shared client
        self._version_scripts: dict[int, Any] = {}  # versions_get_or_lock's, per shared client

    def _degrade(self, operation: str, call: Callable[[], Any], fallback: Any) -> Any:
        if not available():
            DEGRADED.labels(operation).inc()
            if fallback is CacheUnavailable:
                raise CacheUnavailable(f"cache {operation}: Redis unreachable")
            return fallback
        try:
            result = call()
        except UNREACHABLE as exc:
            note_failure(operation, exc)
            if fallback is CacheUnavailable:
                raise CacheUnavailable(f"cache {operation}: {exc}") from exc
            return fallback
        note_success()
        return result

    # reads: a miss
    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._degrade("get", lambda: super(RedisCache, self).get(key, default, version), default)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        return self._degrade("get_many", lambda: super(RedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: Any = None) -> Any:
        return self._degrade("has_key", lambda: super(RedisCache, self).has_key(key, version), False)

    # writes: skipped
    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> None:
        self._degrade("set", lambda: super(RedisCache, self).set(key, value, timeout, version), None)

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return self._degrade("set_many", lambda: super(RedisCache, self).set_many(data, timeout, version), list(data))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return self._degrade("touch", lambda: super(RedisCache, self).touch(key, timeout, version), False)

    def delete(self, key: Any, version: Any = None) -> Any:
        return self._degrade("delete", lambda: super(RedisCache, self).delete(key, version), False)

    def delete_many(self, keys: Any, version: Any = None) -> None:
        self._degrade("delete_many", lambda: super(RedisCache, self).delete_many(keys, version), None)

    def clear(self) -> Any:
        return self._degrade("clear", lambda: super(RedisCache, self).clear(), False)

    # locks and counters: no honest answer without Redis
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        return self._degrade("add", lambda: super(RedisCache, self).add(key, value, timeout, version), CacheUnavailable)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self._degrade("incr", lambda: super(RedisCache, self).incr(key, delta, version), CacheUnavailable)

    def decr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self._degrade("decr", lambda: super(RedisCache, self).decr(key, delta, version), CacheUnavailable)

    # the read cache's single-flight answers, each in one round trip (kronos/readcache/answers.py)
    def get_or_lock(self, key: Any, lock: Any, lock_timeout: int, default: Any = None) -> tuple[Any, bool]:
        """`key`'s value, or -- when it has none -- `default` and whether this caller took `lock`
        (SET NX with `lock_timeout` seconds), both in one round trip. Without Redis: (default,
        True): nothing to share, the caller computes."""

        def call() -> tuple[Any, bool]:
            client = self._cache.get_client(write=True)
            script = self._scripts.get(id(client))
            if script is None:
                script = self._scripts.setdefault(id(client), client.register_script(_GET_OR_LOCK))
            found, value = script(
                keys=[self.make_and_validate_key(key), self.make_and_validate_key(lock)], args=[int(lock_timeout)]
            )
            if found:
                return self._cache._serializer.loads(value), False  # type: ignore[attr-defined]  # Django's own, unstubbed
            return default, bool(value)

        return self._degrade("get_or_lock", call, (default, True))  # type: ignore[no-any-return]

    def versions_get_or_lock(
        self,
        version_keys: list[str],
        seed: int,
        key: str,
        stamp: str,
        lock_suffix: str,
        lock_timeout: int,
        default: Any,
    ) -> tuple[list[int], Any, bool] | None:
        """`get_or_lock` for an answer whose key holds the current values of `version_keys` (in
        place of the text `stamp`, joined by dots; a missing version is seeded with `seed`), those
        values read in the same round trip. None when this cache's keys are not its key function's
        prefix and the text itself (a custom KEY_FUNCTION): then ask in two steps. Raises
        CacheUnavailable without Redis (the read cache then answers from the database)."""
        full = self.make_and_validate_key(key)
        if self.make_key(key + lock_suffix) != full + lock_suffix or full.count(stamp) != 1:
            return None

        def call() -> tuple[list[int], Any, bool]:
            client = self._cache.get_client(write=True)
            script = self._version_scripts.get(id(client))
            if script is None:
                script = self._version_scripts.setdefault(id(client), client.register_script(_VERSIONS_GET_OR_LOCK))
            versions, found, value = script(
                keys=[self.make_and_validate_key(k) for k in version_keys],
                args=[len(version_keys), int(seed), full, stamp, lock_suffix, int(lock_timeout)],
            )
            numbers = [int(v) for v in versions]
            if found:
                return numbers, self._cache._serializer.loads(value), False  # type: ignore[attr-defined]
            return numbers, default, bool(value)

        return self._degrade("versions_get_or_lock", call, CacheUnavailable)  # type: ignore[no-any-return]

    def set_and_unlock(self, key: Any, value: Any, timeout: Any, lock: Any | None) -> None:
        """SET `key` (for `timeout` seconds) and DEL `lock` (when given), in one round trip."""

        def call() -> None:
            pipe = self._cache.get_client(write=True).pipeline(transaction=False)
            serialized = self._cache._serializer.dumps(value)  # type: ignore[attr-defined]  # unstubbed
            pipe.set(self.make_and_validate_key(key), serialized, ex=int(timeout))
            if lock is not None:
                pipe.delete(self.make_and_validate_key(lock))
            pipe.execute()

        self._degrade("set_and_unlock", call, None)

    def ping(self) -> None:
        """Ask Redis directly, past the breaker (the health check's probe); raises when away."""
        try:
            self._cache.get_client(write=True).ping()
        except UNREACHABLE as exc:
            note_failure("ping", exc)
            raise
        note_success()


# --- recovery: nothing stale after an outage -------------------------------------------------

SESSION_KEY_PATTERN = "*django.contrib.sessions.cached_db*"


@on_recovery
def drop_cached_sessions() -> None:
    """Sessions changed or ended during the outage were written to the database only: drop
    every cached copy so each is read from the database once (a signed-out session must not
    come back from Redis)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return
    client = backend._cache.get_client(write=True)
    batch: list[Any] = []
    dropped = 0
    for key in client.scan_iter(match=SESSION_KEY_PATTERN, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            dropped += client.unlink(*batch)
            batch = []
    if batch:
        dropped += client.unlink(*batch)
    logger.info("cache: dropped %s cached session copies after the outage", dropped)
