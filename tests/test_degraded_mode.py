"""Issue 12, degraded mode in pieces (kronos/cache.py, kronos/ratelimit.py, kronos/locks.py,
kronos/health.py), against a Redis address where nothing listens."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.core.cache import cache

from kronos import cache as kcache
from kronos import locks, ratelimit

pytestmark = pytest.mark.django_db

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {"default": {"BACKEND": "kronos.cache.RedisCache", "LOCATION": NOWHERE}}
    settings.CACHE_RETRY_SECONDS = 60
    kcache.reset_for_tests()
    ratelimit.LOCAL.clear()
    yield
    kcache.reset_for_tests()


def test_reads_are_misses_and_writes_are_skipped(redis_down):
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert "k" not in cache
    cache.set("k", 1)
    cache.delete("k")
    assert kcache.in_outage() and not kcache.available()


def test_locks_and_counters_refuse_to_guess(redis_down):
    with pytest.raises(kcache.CacheUnavailable):
        cache.add("lock", 1)
    with pytest.raises(kcache.CacheUnavailable):
        cache.incr("counter")


def test_the_breaker_stops_asking_a_dead_redis(redis_down, monkeypatch):
    cache.get("first")  # fails, opens the breaker
    calls = []
    from django.core.cache.backends.redis import RedisCache

    monkeypatch.setattr(RedisCache, "get", lambda self, *a, **k: calls.append(a))
    for _ in range(20):
        assert cache.get("again") is None
    assert calls == []


def test_rate_limits_fall_back_to_a_bounded_in_process_limiter(redis_down, settings):
    settings.RATELIMIT_LOCAL_MAX_KEYS = 50
    before = ratelimit.FALLBACKS._value.get()
    counts = [ratelimit.hit("user-1", 60)[0] for _ in range(4)]
    assert counts == [1, 2, 3, 4]
    for n in range(500):
        ratelimit.hit(f"flood-{n}", 60)
    assert len(ratelimit.LOCAL) <= 50
    assert ratelimit.FALLBACKS._value.get() == before + 504


def test_the_api_throttle_still_answers_429_without_redis(redis_down, api, alice, monkeypatch):
    rates = {**ratelimit.UserRateThrottle.THROTTLE_RATES, "user": "3/min"}
    monkeypatch.setattr(ratelimit.UserRateThrottle, "THROTTLE_RATES", rates)
    client = api(alice.user, "read")
    assert [client.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_a_lock_falls_back_to_the_database_and_still_excludes(redis_down):
    name = "tests:degraded:lock"
    with locks.try_lock(name, ttl=30) as held:
        assert held
        seen = []

        def other():  # another connection (another process, as far as PostgreSQL knows)
            from django.db import connection

            with locks.try_lock(name, ttl=30) as second:
                seen.append(second)
            connection.close()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert seen == [False]
    with locks.try_lock(name, ttl=30) as again:
        assert again


def test_a_job_starts_once_without_redis(redis_down):
    from operations.jobs import start_job
    from operations.models import JobRun

    run = start_job("reconciliation", date(2026, 12, 2))
    assert run is not None
    assert start_job("reconciliation", date(2026, 12, 2)) is None
    assert JobRun.objects.filter(job="reconciliation").count() == 1


def test_healthz_says_degraded_with_a_200_while_the_database_answers(redis_down, client, settings):
    settings.CELERY_BROKER_URL = NOWHERE
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["ok"] is False and body["checks"]["database"]["ok"] is True


def test_a_page_and_the_api_answer_without_redis(redis_down, verified_client, api, alice, alice_household):
    assert verified_client(alice.user).get("/households/").status_code == 200
    assert api(alice.user).get("/api/v1/households/").status_code == 200
