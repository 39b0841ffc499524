"""Container health checks, without curl in the image: `healthcheck.py web|worker|beat`.

web     GET /healthz on the local gunicorn (database, cache and broker reachable).
worker  the worker answers a Celery ping.
beat    the broker is reachable (beat has nothing else to ask).
"""

import os
import sys
import urllib.request


def web() -> int:
    hosts = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if h and "*" not in h]
    host = hosts[0].lstrip(".") if hosts else "localhost"
    request = urllib.request.Request(
        f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz",
        headers={"Host": host, "X-Forwarded-Proto": "https"},
    )
    with urllib.request.urlopen(request, timeout=4) as answer:  # noqa: S310  # nosec B310 loopback only
        return 0 if answer.status == 200 else 1


def _celery():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kronos.settings")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import django

    django.setup()
    from kronos.celery import app

    return app


def worker() -> int:
    app = _celery()
    replies = app.control.ping(destination=[f"worker@{os.uname().nodename}"], timeout=3)
    return 0 if replies else 1


def beat() -> int:
    app = _celery()
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
    return 0


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else "web"
    try:
        sys.exit({"web": web, "worker": worker, "beat": beat}[role]())
    except Exception as exc:  # noqa: BLE001  (any failure means unhealthy)
        print(f"unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
