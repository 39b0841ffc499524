#!/usr/bin/env bash
# The embedded demo: web server, a Celery worker with beat on the file-system broker,
# and the sandbox services, all on this machine with SQLite. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# DEBUG stays off, as in production: a 404 must not list every URL. Static files are served by
# WhiteNoise from the source folders (WHITENOISE_USE_FINDERS), so the demo needs no collectstatic.
export DEBUG=${DEBUG:-false} KRONOS_ENFORCE_2FA=${KRONOS_ENFORCE_2FA:-false}
PORT=${PORT:-8000}
mkdir -p var/celery-broker var/celery-processed var/log
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for cmd in $($PY manage.py list_sandboxes 2>/dev/null || true); do
  $PY manage.py "$cmd" >>var/log/"$cmd".log 2>&1 & pids+=($!)
done
.venv/bin/celery -A kronos worker -B --concurrency 2 --loglevel INFO -s var/celerybeat-schedule >>var/log/celery.log 2>&1 & pids+=($!)
cat <<MSG

  Kronos is running at http://127.0.0.1:${PORT}/

  Demo logins (password kronos-demo):
    advisor@demo.kronos      advisor
    investor@demo.kronos     investor
    compliance@demo.kronos   compliance officer
    ops@demo.kronos          operations (admin at /admin/)

  API docs: http://127.0.0.1:${PORT}/api/v1/docs/   Logs: var/log/
MSG
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload
