"""`make run`'s own database: the migrations and the demo seed on SQLite, in a process set up as
`make run` sets it up (no DATABASE_URL, no Redis: SQLite and the file-system broker, in
KRONOS_VAR_DIR), then the demo advisor's pages from it.

The suite runs on PostgreSQL, which takes SQL that SQLite refuses: a union whose parts kept their
models' default ORDER BY passed every test and stopped `make run` at the seed ("ORDER BY not
allowed in subqueries of compound statements"). This runs what `make run` runs before it serves.
"""

import os
import subprocess  # nosec B404 -- our own manage.py
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

ROOT = Path(settings.BASE_DIR)

# The demo advisor, signed in with the test client, reads the book, finds DEMO-00021 (the
# fully invested account of issue 13) and opens it.
_PAGES = """
import os, re, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
signed_in = client.post("/accounts/login/", {"username": "advisor@demo.kronos", "password": "kronos-demo"})
print("login", signed_in.status_code, signed_in.headers.get("Location"))
book = client.get("/book/?q=DEMO-00021")
print("book", book.status_code)
account = re.search(r'href="/accounts/(\\d+)/"', book.content.decode())
page = client.get(f"/accounts/{account.group(1)}/")
print("account", page.status_code, "DEMO-00021" in page.content.decode())
print("households", client.get("/households/").status_code)
"""


def _make_run_env(var_dir: Path) -> dict[str, str]:
    """What `make run` runs with: the project's defaults, nothing of the suite's services. The
    defaults are named too, so a developer's `.env` (read where the environment is silent) cannot
    point the seed at another database or broker."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # nosec B108 -- a fallback home, nothing written there
        "DJANGO_SETTINGS_MODULE": "kronos.settings",
        "KRONOS_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'kronos.sqlite3'}",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "filesystem://",
        "DEBUG": "false",
        "KRONOS_ENFORCE_2FA": "false",
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603 -- fixed arguments
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_make_run_migrates_and_seeds_the_demo_on_sqlite_and_serves_the_advisor(tmp_path):
    env = _make_run_env(tmp_path / "var")
    for step in (["manage.py", "migrate", "--noinput"], ["manage.py", "seed_demo"]):
        done = _run(step, env)
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stderr[-3000:]}"
    assert (tmp_path / "var" / "kronos.sqlite3").exists()  # SQLite, where make run keeps it

    pages = _run(["-c", _PAGES], env)
    assert pages.returncode == 0, pages.stderr[-3000:]
    assert pages.stdout.split("\n")[:4] == ["login 302 /", "book 200", "account 200 True", "households 200"]
