#!/usr/bin/env bash
# The container's entrypoint: one image, four roles.
#   web      checks the configuration (refuses the development SECRET_KEY), then gunicorn
#   worker   a Celery worker on the queues in CELERY_QUEUES (default: all)
#   beat     the Celery scheduler (exactly one per deployment)
#   migrate  applies migrations (a release step, run once before the new web/worker start)
# Anything else is run as given (e.g. `python manage.py createsuperuser`).
set -euo pipefail
cd /app

fresh_metrics_dir() {
  # prometheus_client's multiprocess files must not outlive the processes that wrote them.
  if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  fi
}

case "${1:-web}" in
  web)
    python manage.py check --deploy --fail-level ERROR
    fresh_metrics_dir
    exec gunicorn --config deploy/gunicorn.conf.py kronos.wsgi:application
    ;;
  worker)
    fresh_metrics_dir
    exec celery -A kronos worker --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${CELERY_CONCURRENCY:-2}" ${CELERY_QUEUES:+--queues "$CELERY_QUEUES"} \
      --hostname "worker@%h"
    ;;
  beat)
    unset PROMETHEUS_MULTIPROC_DIR
    exec celery -A kronos beat --loglevel "${LOG_LEVEL:-INFO}" --pidfile=
    ;;
  migrate)
    python manage.py check --deploy --fail-level ERROR
    exec python manage.py migrate --noinput
    ;;
  *)
    exec "$@"
    ;;
esac
