"""The load generators and the server of bench/bench_load.py: wrk (flat out, or paced by its Lua
`delay` hook), locust where wrk is missing, and gunicorn with production settings on a free port."""

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
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)
SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "8"))
WORKERS = int(os.environ.get("BENCH_LOAD_WORKERS", "3"))
THREADS = int(os.environ.get("BENCH_LOAD_THREADS", "2"))
WRK = shutil.which("wrk")
LOCUSTFILE = ROOT / "tests" / "load" / "locustfile.py"


def figures_line(rps: float, p50: float, p95: float, p99: float, failures: int) -> str:
    return f"{rps:,.0f} req/s  p50 {p50:.0f} ms  p95 {p95:.0f} ms  p99 {p99:.0f} ms" + (
        f"  ({failures} failed)" if failures else ""
    )


def flat_out(port: int, path: str, auth: str, secret: str, clients: int, *, seconds: int):
    if not WRK:
        return _locust(port, path, auth, secret, clients, rate=0, seconds=seconds)
    return _wrk(port, path, auth, secret, clients, seconds=seconds)


def offered(port: int, path: str, auth: str, secret: str, clients: int, *, rate: int):
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
    assert WRK is not None  # flat_out and offered call this only when wrk is installed
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


# --- processes --------------------------------------------------------------------------------------


def free_port() -> int:
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


class gunicorn:
    """The server on `port`; `env` overrides its settings (READ_CACHE_SECONDS=0: the read cache off)."""

    def __init__(self, port: int, **env: str):
        self.port = port
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in __exit__)

    def __enter__(self) -> "gunicorn":
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
            env={**_server_env(), **self.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self.log.read().decode()[-2000:]}")
            if probe(self.port, "/accounts/login/", "none", "") == 200:
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


def probe(port: int, path: str, auth: str, secret: str) -> int:
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
