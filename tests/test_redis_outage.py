"""Issue 12: Redis down must not take logins and the API down (kronos/cache.py, degraded mode).

On real services: a throwaway redis-server of this test's own on a free port (never the shared
one), a live server configured against it with sessions in `cached_db`, the read cache on and
the Celery broker on the same Redis. While Redis runs: warm everything. Redis stopped: a user
logs in through the form, a page renders, an existing session still works, the API answers a
read and places an order, rate limits still hold (in process), /healthz says "degraded" with a
200. Redis started again (no restart of the server): the read cache and the rate limits are in
Redis again, and a session signed out during the outage is not brought back from Redis.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import uuid
from decimal import Decimal

import pytest
import requests

from kronos import cache as kcache
from kronos import ratelimit
from tests.accounts.factories import PASSWORD, UserFactory
from tests.trading.factories import account_with, securities  # noqa: F401
from trading.checks import FUNDING_CHECKS, PRETRADE_CHECKS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayRedis:
    """A redis-server of this test's own, stopped and started on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 -- a fixed command of the test's own
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:  # noqa: BLE001 -- still starting
                time.sleep(0.05)
        raise RuntimeError("the throwaway redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)


@pytest.fixture
def throwaway_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def against(throwaway_redis, settings, monkeypatch, override_checks):
    """This process (and so the live server's thread) configured against the throwaway Redis."""
    from kronos.celery import app as celery_app

    settings.CACHES = {"default": {"BACKEND": "kronos.cache.RedisCache", "LOCATION": throwaway_redis.url}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.READ_CACHE_SECONDS = 30
    settings.CACHE_RETRY_SECONDS = 0.3
    settings.CELERY_BROKER_URL = throwaway_redis.url
    override_checks(PRETRADE_CHECKS)
    override_checks(FUNDING_CHECKS)
    settings.KRONOS_ENFORCE_2FA = False
    monkeypatch.setattr(celery_app.conf, "broker_url", throwaway_redis.url)
    monkeypatch.setattr(celery_app, "_pool", None)
    rates = {**ratelimit.UserRateThrottle.THROTTLE_RATES, "user": "5/min"}
    monkeypatch.setattr(ratelimit.UserRateThrottle, "THROTTLE_RATES", rates)
    kcache.reset_for_tests()
    ratelimit.LOCAL.clear()
    yield throwaway_redis
    kcache.reset_for_tests()


def sign_in(base: str, email: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base}/accounts/login/", timeout=10)
    assert form.status_code == 200, form.status_code
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None
    answer = browser.post(
        f"{base}/accounts/login/",
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    assert answer.status_code == 200 and "/accounts/login/" not in answer.url, (answer.status_code, answer.url)
    return browser


def signed_in(browser: requests.Session, base: str) -> bool:
    answer = browser.get(f"{base}/households/", timeout=10, allow_redirects=False)
    return answer.status_code == 200


def throttled_after(base: str, token: str, n: int) -> list[int]:
    return [
        requests.get(f"{base}/api/v1/me/", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
        for _ in range(n)
    ]


def place_order(base: str, token: str, account_id: int) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/orders/",
        json={"account": account_id, "symbol": "AAPL", "side": "buy", "order_type": "market", "quantity": "1"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
        timeout=10,
    )


@pytest.mark.usefixtures("securities")
def test_logins_pages_the_api_and_orders_survive_a_redis_outage_and_resume_after_it(
    against, live_server, alice, alice_household, charlie, make_token
):
    from trading.models import Order

    base = live_server.url
    redis = against
    account = account_with(alice_household, cash="10000.00", positions=[("AAPL", "10", "100")])
    token = make_token(alice.user, "read trade")
    throttle_tokens = [make_token(UserFactory(roles=["advisor"], firm=alice.firm), "read") for _ in range(3)]

    # --- Redis up: warm the session, the read cache and a rate-limit counter in Redis.
    kept = sign_in(base, charlie.email)
    to_sign_out = sign_in(base, charlie.email)
    assert signed_in(kept, base) and signed_in(to_sign_out, base)
    assert requests.get(f"{base}/api/v1/accounts/", headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
    assert redis.client().keys("*django.contrib.sessions.cached_db*")
    assert redis.client().keys("*kronos:read:*")
    assert throttled_after(base, throttle_tokens[0], 6) == [200] * 5 + [429]

    # --- Redis down.
    redis.stop()
    fresh = sign_in(base, charlie.email)  # a login through the form
    assert signed_in(fresh, base)  # a page
    assert signed_in(kept, base)  # a session made before the outage, read from the database
    read = requests.get(f"{base}/api/v1/accounts/", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert read.status_code == 200 and account.custodian_account_number in read.text  # an API read
    order = place_order(base, token, account.pk)
    assert order.status_code == 201, order.text  # an order
    assert Order.objects.filter(account=account, quantity=Decimal("1")).count() == 1
    # Rate limits still hold, counted in process (bounded), and say so in the metrics.
    fallbacks = ratelimit.FALLBACKS._value.get()
    assert throttled_after(base, throttle_tokens[1], 6) == [200] * 5 + [429]
    assert ratelimit.FALLBACKS._value.get() >= fallbacks + 6
    health = requests.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert health.json()["checks"]["cache"]["ok"] is False and health.json()["checks"]["database"]["ok"] is True
    assert kcache.in_outage() and kcache.DEGRADED.labels("get")._value.get() > 0
    # Sign one session out while Redis cannot forget its cached copy.
    page = to_sign_out.get(f"{base}/households/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text) or re.search(
        r'"X-CSRFToken": ?"([^"]+)"', page.text
    )
    assert csrf is not None
    out = to_sign_out.post(
        f"{base}/accounts/logout/",
        data={"csrfmiddlewaretoken": csrf.group(1)},
        headers={"Referer": f"{base}/households/"},
        timeout=10,
    )
    assert out.status_code in (200, 302)

    # --- Redis back, the same server process: everything resumes.
    redis.start()
    time.sleep(0.5)  # past CACHE_RETRY_SECONDS: the next call tries Redis again
    health = requests.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert not signed_in(to_sign_out, base), "a session signed out during the outage came back from Redis"
    assert signed_in(kept, base) and signed_in(fresh, base)
    # The read cache works again: the answer is stored in Redis and the next read is a hit.
    hits = _reads("hit")
    for _ in range(2):
        assert requests.get(f"{base}/api/v1/accounts/", headers={"Authorization": f"Bearer {token}"}, timeout=10).ok
    assert redis.client().keys("*kronos:read:*") and _reads("hit") >= hits + 1
    # Rate limits count in Redis again.
    assert throttled_after(base, throttle_tokens[2], 6) == [200] * 5 + [429]
    assert redis.client().keys("*kronos:rate:throttle_user_*")
    assert place_order(base, token, account.pk).status_code == 201
    assert not kcache.in_outage()


def _reads(outcome: str) -> float:
    from kronos.readcache import READS

    return float(READS.labels(outcome)._value.get())
