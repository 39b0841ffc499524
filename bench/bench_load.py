"""Load: gunicorn on a free loopback port against the bench's scratch database (the demo firm),
one endpoint at a time, at 16 and 64 concurrent clients, in two regimes:

- "flat out": wrk, every client sending its next request as soon as the last is answered.
  This is the server's capacity; by Little's law latency here is clients / throughput
  (64 clients at 300 req/s wait 213 ms on average whatever the server), so the latency
  target is judged in the second regime.
- "offering 300 req/s": 300 requests a second on a schedule, over the clients' connections:
  what a firm's users or integrators would send. wrk's Lua `delay` hook hands out the send
  times (see WRK_SCHEDULE), so the load generator, in C, leaves the two cores to the server;
  locust's constant_throughput users do it where wrk is missing. The target (p95 under 50 ms
  at 300 req/s or more for reads, on 2 cores) is read here.
- the same, while the data changes BENCH_LOAD_CHANGES times a second (default 20, the demo
  firm's read-cache version moved as each of its committed writes moves it when orders, fills
  and prices land): with no writes every answer above comes from the read cache; here each change makes
  the next answers be computed again.
- with the read cache off (a second server, READ_CACHE_SECONDS=0): every answer computed, flat
  out and offering the same rate, at the first client count (BENCH_LOAD_CLIENTS' first).

Each endpoint is warmed up first (a new worker's first requests import and compile), the
workers are not recycled during the run, and the server runs with production settings (read
cache on Redis, JSON logs at WARNING, no access log) and keep-alive off (WEB_KEEPALIVE=0, as
behind a proxy: see _server_env in bench/load_tools.py). Prints requests/second and p50/p95/p99.
BENCH_LOAD_SECONDS per run (default 8); wrk and locust must be installed (`make install`
installs locust; wrk is Debian's package, installed by scripts/ensure_services.sh for
`make bench`): without wrk the flat-out regime runs on locust too, and says so.
"""

import os
import secrets
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.load_tools import SECONDS, THREADS, WORKERS, WRK, figures_line, flat_out, free_port, gunicorn, offered, probe

CONCURRENCY = [int(n) for n in os.environ.get("BENCH_LOAD_CLIENTS", "16,64").split(",")]
RATE = int(os.environ.get("BENCH_LOAD_RATE", "300"))
#: Committed writes a second in the third regime (0: skip it).
CHANGES = float(os.environ.get("BENCH_LOAD_CHANGES", "20"))
#: Run the read-cache-off regime (BENCH_LOAD_UNCACHED=0 skips it).
UNCACHED = os.environ.get("BENCH_LOAD_UNCACHED", "1") != "0"
ONLY = [w for w in os.environ.get("BENCH_LOAD_ONLY", "").split(",") if w]  # e.g. "me,book": a subset

#: (label, path template, auth) — {account} is filled with one of the advisor's accounts.
ENDPOINTS = [
    ("API households", "/api/v1/households/", "token"),
    ("API me", "/api/v1/me/", "token"),
    ("API accounts", "/api/v1/accounts/", "token"),
    ("API positions", "/api/v1/accounts/{account}/positions/", "token"),
    ("API orders", "/api/v1/orders/", "token"),
    ("book page", "/book/", "session"),
    ("households page", "/households/", "session"),
]


def run() -> list[tuple[str, str]]:
    if shutil.which("locust", path=str(Path(sys.executable).parent)) is None:
        return [("load", "skipped: locust is not installed (make install)")]
    advisor = _seed()
    token, session = _credentials(advisor)
    account = _first_account(advisor)
    flat_out_tool = "wrk" if WRK else "locust (wrk not installed)"
    offered_tool = "wrk, paced" if WRK else "locust"
    lines: list[tuple[str, str]] = [
        (
            "server",
            f"gunicorn gthread {WORKERS} workers x {THREADS} threads, keep-alive "
            f"{os.environ.get('WEB_KEEPALIVE', '0')} s, {os.cpu_count()} cores shared with the load generator",
        )
    ]
    endpoints = []  # (label, path, secret, auth)
    for label, template, auth in ENDPOINTS:
        if ONLY and not any(word in label for word in ONLY):
            continue
        if "{account}" in template and account is None:
            lines.append((label, "skipped: no investment account in the seed yet"))
            continue
        endpoints.append((label, template.format(account=account), {"token": token, "session": session}[auth], auth))
    port = free_port()
    with gunicorn(port):
        for label, path, secret, auth in endpoints:
            status = probe(port, path, auth, secret)
            if status != 200:
                lines.append((label, f"skipped: {path} answers {status}"))
                continue
            flat_out(port, path, auth, secret, 16, seconds=2)  # warm-up, not reported
            for clients in CONCURRENCY:
                figures = flat_out(port, path, auth, secret, clients, seconds=SECONDS)
                lines.append((f"{label} {path} @ {clients} clients flat out ({flat_out_tool})", figures_line(*figures)))
            for clients in CONCURRENCY:
                figures = offered(port, path, auth, secret, clients, rate=RATE)
                lines.append(
                    (
                        f"{label} {path} @ {clients} clients offering {RATE} req/s ({offered_tool})",
                        figures_line(*figures),
                    )
                )
            if CHANGES:
                for clients in CONCURRENCY:
                    with _data_changing(CHANGES, firm_id=advisor.firm_id):
                        figures = offered(port, path, auth, secret, clients, rate=RATE)
                    lines.append(
                        (
                            f"{label} {path} @ {clients} clients offering {RATE} req/s, data changing {CHANGES:g}/s",
                            figures_line(*figures),
                        )
                    )
    if UNCACHED:
        lines += _uncached(endpoints, flat_out_tool, offered_tool)
    return lines


def _uncached(
    endpoints: list[tuple[str, str, str, str]], flat_out_tool: str, offered_tool: str
) -> list[tuple[str, str]]:
    """The same endpoints on a server with the read cache off (READ_CACHE_SECONDS=0): every
    answer computed -- the server's floor when nothing can be kept."""
    clients = CONCURRENCY[0]
    lines: list[tuple[str, str]] = []
    port = free_port()
    with gunicorn(port, READ_CACHE_SECONDS="0"):
        for label, path, secret, auth in endpoints:
            if probe(port, path, auth, secret) != 200:
                continue
            flat_out(port, path, auth, secret, clients, seconds=2)  # warm-up, not reported
            figures = flat_out(port, path, auth, secret, clients, seconds=SECONDS)
            lines.append(
                (
                    f"{label} {path} @ {clients} clients flat out, read cache off ({flat_out_tool})",
                    figures_line(*figures),
                )
            )
            figures = offered(port, path, auth, secret, clients, rate=RATE)
            lines.append(
                (
                    f"{label} {path} @ {clients} clients offering {RATE} req/s, read cache off ({offered_tool})",
                    figures_line(*figures),
                )
            )
    return lines


class _data_changing:
    """The demo firm's data version moved `per_second` times a second while the load runs (a
    background thread), as the firm's committed writes move it when its orders, fills and
    prices land during the day: the answers are computed again after each move (the figures
    above them are all cache hits)."""

    def __init__(self, per_second: float, *, firm_id: int):
        import threading

        self.interval = 1 / per_second
        self.firm_id = firm_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from kronos import readcache

        scope = readcache.firm_scope(self.firm_id)
        while not self.stop.wait(self.interval):
            readcache.bump(scope)  # what each of the firm's committed writes does (the data is left alone)

    def __enter__(self) -> "_data_changing":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


# --- data ----------------------------------------------------------------------------------------


def _seed():
    from django.core.management import call_command

    from accounts.models import User
    from demo import accounts as demo

    try:
        call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    except Exception as exc:  # another app's seed may be unfinished: fall back to the firm alone  # noqa: BLE001
        print(f"  note: seed_demo failed ({type(exc).__name__}: {exc}); seeding accounts only", flush=True)
        if not User.objects.filter(email=demo.ADVISOR_EMAIL).exists():
            demo.seed()
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # the planner's statistics, as autovacuum keeps a live database's
    return User.objects.get(email=demo.ADVISOR_EMAIL)


def _credentials(user) -> tuple[str, str]:
    from importlib import import_module

    from django.conf import settings as django_settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from oauth2_provider.models import get_access_token_model, get_application_model

    app, _ = get_application_model().objects.get_or_create(
        name="bench", defaults={"client_type": "confidential", "authorization_grant_type": "client-credentials"}
    )
    token = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user, application=app, token=token, scope="read trade", expires=timezone.now() + timedelta(hours=2)
    )
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
    session = import_module(django_settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "kronos.auth.CachedModelBackend"  # as a login through the form stores
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session["otp_device_id"] = device.persistent_id
    session["kronos_last_activity"] = int(time.time())
    session.create()
    return token, session.session_key or ""


def _first_account(user):
    try:
        from django.apps import apps

        model = apps.get_model("portfolios", "InvestmentAccount")
        account = model._default_manager.filter(household__advisor__user=user).order_by("pk").first()
    except Exception:  # the model or its household link may not exist yet  # noqa: BLE001
        return None
    return account.pk if account else None
