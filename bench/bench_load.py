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
- the same, while the data changes BENCH_LOAD_CHANGES times a second (default 2, the read
  cache's data version moved as each committed write moves it when orders, fills and prices
  land): with no writes every answer above comes from the read cache; here each change makes
  the next answers be computed again.

Each endpoint is warmed up first (a new worker's first requests import and compile), the
workers are not recycled during the run, and the server runs with production settings (read
cache on Redis, JSON logs at WARNING, no access log) and keep-alive off (WEB_KEEPALIVE=0, as
behind a proxy: see _server_env). Prints requests/second and p50/p95/p99.
BENCH_LOAD_SECONDS per run (default 8); wrk and locust must be installed (`make install`
installs locust; wrk is Debian's package, installed by scripts/ensure_services.sh for
`make bench`): without wrk the flat-out regime runs on locust too, and says so.
"""

import csv
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)
SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "8"))
CONCURRENCY = [int(n) for n in os.environ.get("BENCH_LOAD_CLIENTS", "16,64").split(",")]
WORKERS = int(os.environ.get("BENCH_LOAD_WORKERS", "3"))
THREADS = int(os.environ.get("BENCH_LOAD_THREADS", "2"))
RATE = int(os.environ.get("BENCH_LOAD_RATE", "300"))
#: Committed writes a second in the third regime (0: skip it).
CHANGES = float(os.environ.get("BENCH_LOAD_CHANGES", "2"))
WRK = shutil.which("wrk")
ONLY = [w for w in os.environ.get("BENCH_LOAD_ONLY", "").split(",") if w]  # e.g. "me,book": a subset
LOCUSTFILE = ROOT / "tests" / "load" / "locustfile.py"

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
    port = _free_port()
    with _gunicorn(port):
        for label, template, auth in ENDPOINTS:
            if ONLY and not any(word in label for word in ONLY):
                continue
            if "{account}" in template and account is None:
                lines.append((label, "skipped: no investment account in the seed yet"))
                continue
            path = template.format(account=account)
            secret = {"token": token, "session": session}[auth]
            status = _probe(port, path, auth, secret)
            if status != 200:
                lines.append((label, f"skipped: {path} answers {status}"))
                continue
            _flat_out(port, path, auth, secret, 16, seconds=2)  # warm-up, not reported
            for clients in CONCURRENCY:
                figures = _flat_out(port, path, auth, secret, clients, seconds=SECONDS)
                lines.append((f"{label} {path} @ {clients} clients flat out ({flat_out_tool})", _line(*figures)))
            for clients in CONCURRENCY:
                figures = _offered(port, path, auth, secret, clients, rate=RATE)
                lines.append(
                    (f"{label} {path} @ {clients} clients offering {RATE} req/s ({offered_tool})", _line(*figures))
                )
            if CHANGES:
                for clients in CONCURRENCY:
                    with _data_changing(CHANGES):
                        figures = _offered(port, path, auth, secret, clients, rate=RATE)
                    lines.append(
                        (
                            f"{label} {path} @ {clients} clients offering {RATE} req/s, data changing {CHANGES}/s",
                            _line(*figures),
                        )
                    )
    return lines


class _data_changing:
    """The data version moved `per_second` times a second while the load runs (a background
    thread), as every committed write moves it when orders, fills and prices land during the day:
    the answers are computed again after each move (the figures above them are all cache hits)."""

    def __init__(self, per_second: float):
        import threading

        self.interval = 1 / per_second
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from kronos import readcache

        while not self.stop.wait(self.interval):
            readcache.bump()  # what every committed write does to the readers (the data is left alone)

    def __enter__(self) -> "_data_changing":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _line(rps: float, p50: float, p95: float, p99: float, failures: int) -> str:
    return f"{rps:,.0f} req/s  p50 {p50:.0f} ms  p95 {p95:.0f} ms  p99 {p99:.0f} ms" + (
        f"  ({failures} failed)" if failures else ""
    )


def _flat_out(port: int, path: str, auth: str, secret: str, clients: int, *, seconds: int):
    if not WRK:
        return _locust(port, path, auth, secret, clients, rate=0, seconds=seconds)
    return _wrk(port, path, auth, secret, clients, seconds=seconds)


def _offered(port: int, path: str, auth: str, secret: str, clients: int, *, rate: int):
    """`clients` connections carrying `rate` requests a second between them, on a schedule: each
    wrk thread hands out send times `threads/rate` seconds apart (its Lua `delay` hook, on the
    monotonic clock), and a connection ready to send waits for the next one. A server that
    cannot keep up is shown by the rate achieved (slots are not saved up into bursts). Without
    wrk, locust's constant_throughput users do the pacing."""
    if not WRK:
        return _locust(port, path, auth, secret, clients, rate=rate)
    return _wrk(port, path, auth, secret, clients, seconds=SECONDS, rate=rate)


def _wrk(port: int, path: str, auth: str, secret: str, clients: int, *, seconds: int, rate: int | None = None):
    """One wrk run (two threads): (requests/s, p50, p95, p99 in ms, failures); sending `rate`
    requests a second on a schedule when given, else each client its next request at once."""
    script = Path(tempfile.gettempdir()) / f"kronos-wrk-{os.getpid()}.lua"
    paced = WRK_SCHEDULE.replace("INTERVAL_MS", f"{1000 * WRK_THREADS / rate:.4f}") if rate else ""
    script.write_text(WRK_REPORT + paced)
    headers: list[str] = []
    for name, value in _headers(auth, secret).items():
        headers += ["-H", f"{name}: {value}"]
    answer = subprocess.run(  # nosec B603 -- fixed program, loopback URL
        [
            WRK,
            f"-t{WRK_THREADS}",
            f"-c{clients}",
            f"-d{seconds}s",
            "-s",
            str(script),
            *headers,
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    script.unlink(missing_ok=True)
    report = next((line.split() for line in answer.stdout.splitlines() if line.startswith("KRONOS ")), None)
    if report is None:
        raise RuntimeError(f"wrk printed no report: {answer.stdout[-500:]} {answer.stderr[-500:]}")
    requests, micros, p50, p95, p99, bad_status, socket_errors = (int(v) for v in report[1:])
    return requests / (micros / 1e6), p50 / 1000, p95 / 1000, p99 / 1000, bad_status + socket_errors


WRK_THREADS = 2

#: wrk's pacing: each thread's connections take send times INTERVAL_MS apart from a shared
#: schedule (LuaJIT's FFI reads the monotonic clock); a schedule fallen behind by more than one
#: interval moves on rather than firing the missed sends at once.
WRK_SCHEDULE = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } kronos_timespec;
           int clock_gettime(int, kronos_timespec *); ]]
local ts = ffi.new("kronos_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = INTERVAL_MS
local next_at = nil
delay = function()
  local t = now_ms()
  if next_at == nil then next_at = t + math.random() * interval end
  next_at = math.max(next_at + interval, t - interval)
  local d = next_at - t
  if d < 0 then return 0 end
  return d
end
"""

#: wrk's report hook: requests, duration (µs), latency percentiles (µs), non-2xx/3xx and socket errors.
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KRONOS %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


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


# --- processes --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "HTTPS": "false",
        "CONN_MAX_AGE": "60",
        "WEB_MAX_REQUESTS": "0",  # no worker recycling mid-run: each restart is a cold worker
        # Each request on its own connection, accepted by whichever worker is free, as behind a
        # proxy: wrk's few long-lived connections would otherwise stay pinned to the worker that
        # happened to accept them (16 on one worker of three in some runs: a third of the machine).
        "WEB_KEEPALIVE": os.environ.get("WEB_KEEPALIVE", "0"),
        "LOG_LEVEL": "WARNING",
        "WEB_ACCESS_LOG": "false",
        "API_THROTTLE_USER": "100000000/min",
        "API_THROTTLE_ANON": "100000000/min",
        "API_THROTTLE_MONEY": "100000000/min",
        "STAFF_IDLE_TIMEOUT_SECONDS": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + secrets.token_urlsafe(40)),
    }


class _gunicorn:
    def __init__(self, port: int):
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in __exit__)

    def __enter__(self) -> "_gunicorn":
        connection.close()  # the server opens its own connections
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--config",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(WORKERS),
                "--threads",
                str(THREADS),
                "--preload",  # import once in the master; workers fork warm
                "kronos.wsgi:application",
            ],
            cwd=ROOT,
            env=_server_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self.log.read().decode()[-2000:]}")
            if _probe(self.port, "/accounts/login/", "none", "") == 200:
                return self
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer in 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _headers(auth: str, secret: str) -> dict[str, str]:
    if auth == "token":
        return {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
    if auth == "session":
        return {"Cookie": f"sessionid={secret}"}
    return {}


def _probe(port: int, path: str, auth: str, secret: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=_headers(auth, secret))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # nosec B310 loopback
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect to login means "not 200" here
        return None


urllib.request.install_opener(urllib.request.build_opener(_NoRedirect))


def _locust(
    port: int, path: str, auth: str, secret: str, clients: int, *, rate: int, seconds: int = SECONDS
) -> tuple[float, float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "run")
        env = {
            **os.environ,
            "KRONOS_LOAD_PATH": path,
            "KRONOS_LOAD_TOKEN": secret if auth == "token" else "",
            "KRONOS_LOAD_SESSION": secret if auth == "session" else "",
            "KRONOS_LOAD_RATE": str(rate),
        }
        subprocess.run(
            [
                str(Path(sys.executable).parent / "locust"),
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--host",
                f"http://127.0.0.1:{port}",
                "--users",
                str(clients),
                "--spawn-rate",
                str(clients),
                "--run-time",
                f"{seconds}s",
                "--stop-timeout",
                "5",
                "--csv",
                prefix,
                "--only-summary",
                "--loglevel",
                "ERROR",
                "--exit-code-on-error",
                "0",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=seconds + 60,
            check=False,
        )
        with open(prefix + "_stats.csv") as fh:
            row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return (
        float(row["Requests/s"]),
        float(row["50%"]),
        float(row["95%"]),
        float(row["99%"]),
        int(row["Failure Count"]),
    )
