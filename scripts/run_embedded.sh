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
# The custodian sandbox posts its fills to SITE_URL's webhook: the port served here unless set.
export SITE_URL=${SITE_URL:-http://127.0.0.1:${PORT}}
# What it writes (the settings' VAR_DIR): var/, or KRONOS_VAR_DIR.
VAR=${KRONOS_VAR_DIR:-var}
mkdir -p "$VAR"/celery-broker "$VAR"/celery-processed "$VAR"/celery-control "$VAR"/log
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for cmd in $($PY manage.py list_sandboxes 2>/dev/null || true); do
  args=()
  # The custodian starts holding what the ledger holds (the seed wrote the books without it),
  # or the first night's reconciliation would break on every position of every account.
  [ "$cmd" = run_sandbox_custodian ] && args=(--books-from-database)
  $PY manage.py "$cmd" "${args[@]}" >>"$VAR"/log/"$cmd".log 2>&1 & pids+=($!)
done
.venv/bin/celery -A kronos worker -B --concurrency 2 --loglevel INFO -s "$VAR"/celerybeat-schedule >>"$VAR"/log/celery.log 2>&1 & pids+=($!)
cat <<MSG

  Kronos is running at http://127.0.0.1:${PORT}/

  Demo logins (password kronos-demo):
    advisor@demo.kronos      advisor
    investor@demo.kronos     investor
    compliance@demo.kronos   compliance officer
    ops@demo.kronos          operations (admin at /admin/)

  API docs: http://127.0.0.1:${PORT}/api/v1/docs/   Logs: ${VAR}/log/
MSG
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload
