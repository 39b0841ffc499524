#!/usr/bin/env bash
# The image's build steps (Dockerfile) as a script that runs on any machine with Python 3.11,
# no Docker needed: a fresh venv, the pinned requirements, the source as the build context
# sends it (.dockerignore), collectstatic with the hashed and compressed storage,
# `check --deploy` with a production-like environment, and a smoke start of gunicorn.
#
#   deploy/build.sh [DEST]        DEST defaults to a new temporary directory (kept for a look)
#   make build-check              the same, from the Makefile
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$(mktemp -d -t kronos-build.XXXXXX)}
PYTHON=${PYTHON:-python3.11}
APP="$DEST/app"
VENV="$DEST/venv"
step() { printf '\n==> %s\n' "$*"; }

step "venv ($($PYTHON --version)) in $DEST"
mkdir -p "$APP"
$PYTHON -m venv "$VENV"
export PATH="$VENV/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1

step "pip install -r requirements.txt"
pip install -q --upgrade pip
pip install -q -r "$SRC/requirements.txt"

step "copy the build context (what .dockerignore lets through)"
rsync -a --exclude-from="$SRC/.dockerignore" "$SRC/" "$APP/"
test ! -e "$APP/.env" && test ! -e "$APP/.git" && test ! -e "$APP/.venv"

cd "$APP"
export DJANGO_SETTINGS_MODULE=kronos.settings \
  STATICFILES_STORAGE=whitenoise.storage.CompressedManifestStaticFilesStorage \
  STATIC_ROOT="$APP/staticfiles" \
  WHITENOISE_USE_FINDERS=false

step "collectstatic (hashed, compressed)"
SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput -v 0
test -f "$APP/staticfiles/staticfiles.json"
ls "$APP"/staticfiles/vendor/htmx/htmx.min.*.js.gz >/dev/null

step "check --deploy with a production-like environment"
PROD_ENV=(
  SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')"
  DEBUG=false HTTPS=true BEHIND_PROXY=true
  ALLOWED_HOSTS=kronos.example.com CSRF_TRUSTED_ORIGINS=https://kronos.example.com
  METRICS_TOKEN="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
  DATABASE_URL="sqlite:///$DEST/build-check.sqlite3"
  CELERY_BROKER_URL=memory:// KRONOS_ENFORCE_2FA=true
)
env "${PROD_ENV[@]}" python manage.py check --deploy --fail-level WARNING

step "the development key is refused"
if env "${PROD_ENV[@]}" SECRET_KEY= DATABASE_URL=postgres://nobody@127.0.0.1:1/none python manage.py check >/dev/null 2>&1; then
  echo "check passed with the development SECRET_KEY" >&2; exit 1
fi

step "gunicorn config and a smoke start"
gunicorn --check-config --config deploy/gunicorn.conf.py kronos.wsgi:application
env "${PROD_ENV[@]}" python manage.py migrate --noinput -v 0
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env "${PROD_ENV[@]}" PORT="$PORT" WEB_CONCURRENCY=2 WEB_ACCESS_LOG=false PROMETHEUS_MULTIPROC_DIR="$DEST/prometheus" \
  bash -c 'mkdir -p "$PROMETHEUS_MULTIPROC_DIR"; exec gunicorn --config deploy/gunicorn.conf.py --bind "127.0.0.1:$PORT" kronos.wsgi:application' \
  >"$DEST/gunicorn.log" 2>&1 &
GPID=$!
trap 'kill $GPID 2>/dev/null || true; wait $GPID 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  python - "$PORT" 2>/dev/null <<'PY' && break || sleep 0.5
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/accounts/login/", headers={"Host": "kronos.example.com", "X-Forwarded-Proto": "https"})
with urllib.request.urlopen(req, timeout=2) as r:
    assert r.status == 200 and "Content-Security-Policy" in r.headers
    css = [w for w in r.read().decode().split('"') if w.startswith("/static/css/kronos.") and w.endswith(".css")]
    assert css, "no hashed stylesheet link"
PY
done
python - "$PORT" <<'PY'
import sys, urllib.request
port = sys.argv[1]
def get(path, **headers):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": "kronos.example.com", "X-Forwarded-Proto": "https", **headers})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, r.headers, r.read().decode("utf-8", "replace")
status, headers, body = get("/accounts/login/")
print("  login page:", status, "| CSP:", headers["Content-Security-Policy"][:40], "...")
css = next(w for w in body.split('"') if w.startswith("/static/css/kronos.") and w.endswith(".css"))
status, headers, _ = get(css, **{"Accept-Encoding": "gzip"})
print("  static:", css, status, headers.get("Content-Encoding"), headers.get("Cache-Control"))
status, headers, body = get("/healthz")
print("  healthz:", status, body[:120])
PY
echo
echo "build-check passed: $DEST"
