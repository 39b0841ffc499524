"""`/healthz`: is the database, the cache and the Celery broker reachable?

- 200 `"ok"`: all three answer.
- 200 `"degraded"`: the database answers but Redis (cache or broker) does not. Kronos keeps
  serving in degraded mode (kronos/cache.py: sessions, reads and locks from the database,
  rate limits in process; orders wait in the outbox), so a load balancer must keep sending
  traffic: a 503 here would turn a Redis outage into a total one.
- 503 `"down"`: the database does not answer; nothing can be served.

The cache check pings Redis past the circuit breaker, so probes also notice its return.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from kronos.cache import RedisCache
from kronos.celery import app as celery_app


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        backend.ping()
        return
    cache.set("healthz", "ok", 10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache did not return what was stored")


def _broker() -> None:
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "cache": _cache, "broker": _broker}
#: Without these nothing is served (503); without the others Kronos runs degraded (200).
ESSENTIAL = ("database",)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:  # any failure is the answer, not a crash  # noqa: BLE001
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    if not all(results[name]["ok"] for name in ESSENTIAL):
        return JsonResponse({"status": "down", "checks": results}, status=503)
    healthy = all(r["ok"] for r in results.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": results}, status=200)
