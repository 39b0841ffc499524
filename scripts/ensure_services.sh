#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and Chromium are here and running, for the test suite.
# Installs them from Debian's packages where missing (CI runs as root on a bare machine).
set -euo pipefail

apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; _APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "ensure_services: $* missing and cannot be installed here (need root and apt-get)" >&2
    return 1
  fi
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql
    ver=$(ls /etc/postgresql | head -1)
    sed -i 's/^\(local\|host\)\(.*\)\(peer\|scram-sha-256\|md5\)$/\1\2trust/' /etc/postgresql/"$ver"/main/pg_hba.conf
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server redis-tools
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
fi

if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium || echo "ensure_services: no chromium; browser tests will fail" >&2
fi

# WeasyPrint (signed agreements as PDF) needs Pango at run time.
if ! ldconfig -p 2>/dev/null | grep -q libpango-1.0; then
  apt_install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core || echo "ensure_services: no Pango; signed PDFs cannot be made" >&2
fi

# `make bench` also wants wrk for its load figures (bench/bench_load.py falls back to locust).
if [ "${1:-}" = "bench" ] && ! command -v wrk >/dev/null 2>&1; then
  apt_install wrk || echo "ensure_services: no wrk; the load bench drives flat-out runs with locust" >&2
fi
