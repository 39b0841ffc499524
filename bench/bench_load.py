"""Load: gunicorn (gthread) on a free loopback port against the bench's scratch database,
driven by locust (headless) at 16 and 64 concurrent clients, one endpoint at a time.

Prints requests/second and p50/p95/p99 latency per endpoint and concurrency. Endpoints that
don't answer 200 yet (their apps are still being built) are skipped with a note. Bounded:
BENCH_LOAD_SECONDS per run (default 8), loopback only, every process stopped at the end.
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
THREADS = 4
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
    lines: list[tuple[str, str]] = [
        ("server", f"gunicorn gthread {WORKERS} workers x {THREADS} threads, {os.cpu_count()} cores shared with locust")
    ]
    port = _free_port()
    with _gunicorn(port):
        for label, template, auth in ENDPOINTS:
            if "{account}" in template and account is None:
                lines.append((label, "skipped: no investment account in the seed yet"))
                continue
            path = template.format(account=account)
            secret = {"token": token, "session": session}[auth]
            status = _probe(port, path, auth, secret)
            if status != 200:
                lines.append((label, f"skipped: {path} answers {status} (not built yet?)"))
                continue
            for clients in CONCURRENCY:
                rps, p50, p95, p99, failures = _locust(port, path, auth, secret, clients)
                lines.append(
                    (
                        f"{label} {path} @ {clients} clients",
                        f"{rps:,.0f} req/s  p50 {p50:.0f} ms  p95 {p95:.0f} ms  p99 {p99:.0f} ms"
                        + (f"  ({failures} failed)" if failures else ""),
                    )
                )
    return lines


# --- data ----------------------------------------------------------------------------------------


def _seed():
    from django.core.management import call_command

    from accounts import demo
    from accounts.models import User

    try:
        call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    except Exception as exc:  # another app's seed may be unfinished: fall back to the firm alone  # noqa: BLE001
        print(f"  note: seed_demo failed ({type(exc).__name__}: {exc}); seeding accounts only", flush=True)
        if not User.objects.filter(email=demo.ADVISOR_EMAIL).exists():
            demo.seed()
    return User.objects.get(email=demo.ADVISOR_EMAIL)


def _credentials(user) -> tuple[str, str]:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
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
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
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


def _locust(port: int, path: str, auth: str, secret: str, clients: int) -> tuple[float, float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "run")
        env = {
            **os.environ,
            "KRONOS_LOAD_PATH": path,
            "KRONOS_LOAD_TOKEN": secret if auth == "token" else "",
            "KRONOS_LOAD_SESSION": secret if auth == "session" else "",
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
                f"{SECONDS}s",
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
            timeout=SECONDS + 60,
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
