"""Prometheus metrics: `/metrics` for web, a small exporter for the Celery worker.

What is measured
- HTTP: django-prometheus middleware (`django_http_requests_latency_seconds_by_view_method`
  and friends), labelled by view name and method.
- Celery: `kronos_celery_task_seconds` (histogram by task and outcome) and
  `kronos_celery_task_failures_total` (counter by task and exception type), from Celery's
  signals in whichever process runs the task.
- Domain gauges computed from the database at scrape time (`DomainCollector`): households
  by status, orders by state, open reconciliation breaks, job run outcomes and Celery task
  results of the last 24 hours. The order, break and job models belong to other apps and
  may not exist yet: each gauge looks its model up by name and is left out when absent.

Multi-process servers (gunicorn workers, Celery prefork children) share counters through
prometheus_client's multiprocess mode: set PROMETHEUS_MULTIPROC_DIR to an empty,
per-container directory and every process writes there; the scrape merges them.

Access: `/metrics` answers 200 only to a request bearing `Authorization: Bearer
$METRICS_TOKEN`, or coming from an address in METRICS_ALLOWED_IPS. The allowlist is empty unless
configured: not even loopback is trusted by default, since a reverse proxy on the same host makes
every caller loopback. Behind a load balancer REMOTE_ADDR is the balancer's: use the token there.
"""

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from functools import cache
from typing import Any

from celery import signals
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Model
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

TASK_SECONDS = Histogram(
    "kronos_celery_task_seconds",
    "Wall time of Celery tasks, by task name and outcome (success, failure, retry).",
    ["task", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
TASK_FAILURES = Counter(
    "kronos_celery_task_failures_total",
    "Celery tasks that raised, by task name and exception type.",
    ["task", "exception"],
)

#: Candidate (app_label, model) names for models other engineers own; the first that exists wins.
ORDER_MODELS = [("trading", "Order")]
BREAK_MODELS = [("trading", "ReconciliationBreak"), ("trading", "Break"), ("portfolios", "ReconciliationBreak")]
JOB_RUN_MODELS = [("trading", "JobRun"), ("portfolios", "JobRun"), ("compliance", "JobRun"), ("accounts", "JobRun")]
STATE_FIELDS = ("state", "status")
JOB_NAME_FIELDS = ("job", "name", "job_name", "kind")
JOB_OUTCOME_FIELDS = ("outcome", "status", "state", "result")
OPEN_BREAK_VALUES = ("open", "new", "investigating")
RECENT = timedelta(hours=24)


# --- Access ----------------------------------------------------------------------------------


def metrics_token() -> str:
    return str(getattr(settings, "METRICS_TOKEN", "") or "")


@cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _networks(tuple(getattr(settings, "METRICS_ALLOWED_IPS", ()) or ()))


def request_may_scrape(request: HttpRequest) -> bool:
    token = metrics_token()
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in allowed_networks())


# --- The view --------------------------------------------------------------------------------


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not request_may_scrape(request):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    body = generate_latest(process_registry()) + generate_latest(domain_registry())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def process_registry() -> CollectorRegistry:
    """The default registry, or in multiprocess mode a fresh one merging every process's files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


@cache
def domain_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DomainCollector())
    return registry


# --- Domain gauges -----------------------------------------------------------------------------


def _first_model(candidates: Iterable[tuple[str, str]]) -> type[Model] | None:
    for app_label, name in candidates:
        try:
            return apps.get_model(app_label, name)
        except LookupError:
            continue
    return None


def _field(model: type[Model], names: Iterable[str]) -> str | None:
    fields = {f.name for f in model._meta.get_fields() if getattr(f, "concrete", False)}
    return next((n for n in names if n in fields), None)


class DomainCollector(Collector):
    """Gauges read from the database when Prometheus scrapes; each family fails alone."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.perf_counter()
        for family in (
            self._households,
            self._orders,
            self._open_breaks,
            self._job_runs,
            self._task_results,
        ):
            try:
                metric = family()
            except (DatabaseError, LookupError, ValueError, TypeError) as exc:
                logger.warning("metrics: %s failed: %s", family.__name__, exc)
                continue
            if metric is not None:
                yield metric
        duration = GaugeMetricFamily("kronos_metrics_scrape_seconds", "Time to compute the domain gauges.")
        duration.add_metric([], time.perf_counter() - started)
        yield duration

    def _households(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("kronos_households", "Households by status.", labels=["status"])
        for status, count in _counts_by(apps.get_model("accounts", "Household"), "status"):
            family.add_metric([status], count)
        return family

    def _orders(self) -> GaugeMetricFamily | None:
        model = _first_model(ORDER_MODELS)
        if model is None:
            return None
        field = _field(model, STATE_FIELDS)
        if field is None:
            return None
        family = GaugeMetricFamily("kronos_orders", "Orders by state.", labels=["state"])
        for state, count in _counts_by(model, field):
            family.add_metric([state], count)
        return family

    def _open_breaks(self) -> GaugeMetricFamily | None:
        model = _first_model(BREAK_MODELS)
        if model is None:
            return None
        family = GaugeMetricFamily("kronos_reconciliation_breaks_open", "Reconciliation breaks not yet resolved.")
        fields = {f.name for f in model._meta.get_fields()}
        queryset = model._default_manager.all()
        state = _field(model, STATE_FIELDS)
        if state is not None:
            queryset = queryset.filter(**{f"{state}__in": OPEN_BREAK_VALUES})
        elif "resolved_at" in fields:
            queryset = queryset.filter(resolved_at__isnull=True)
        elif "is_resolved" in fields:
            queryset = queryset.filter(is_resolved=False)
        family.add_metric([], queryset.count())
        return family

    def _job_runs(self) -> GaugeMetricFamily | None:
        model = _first_model(JOB_RUN_MODELS)
        if model is None:
            return None
        name, outcome = _field(model, JOB_NAME_FIELDS), _field(model, JOB_OUTCOME_FIELDS)
        if name is None or outcome is None:
            return None
        family = GaugeMetricFamily(
            "kronos_job_runs", "Job runs by job and outcome (last 24 hours when dated).", labels=["job", "outcome"]
        )
        queryset = model._default_manager.all()
        since = _field(model, ("started_at", "created_at", "finished_at"))
        if since is not None:
            queryset = queryset.filter(**{f"{since}__gte": timezone.now() - RECENT})
        for row in queryset.order_by().values(name, outcome).annotate(n=Count("pk")):
            family.add_metric([str(row[name]), str(row[outcome])], row["n"])
        return family

    def _task_results(self) -> GaugeMetricFamily | None:
        if not apps.is_installed("django_celery_results"):
            return None
        model = apps.get_model("django_celery_results", "TaskResult")
        family = GaugeMetricFamily(
            "kronos_celery_task_results",
            "Celery task results of the last 24 hours by task and status.",
            labels=["task", "status"],
        )
        rows = (
            model._default_manager.filter(date_done__gte=timezone.now() - RECENT)
            .order_by()
            .values("task_name", "status")
            .annotate(n=Count("pk"))
        )
        for row in rows:
            family.add_metric([row["task_name"] or "unknown", row["status"]], row["n"])
        return family


def _counts_by(model: type[Model], field: str) -> list[tuple[str, int]]:
    rows = model._default_manager.order_by().values(field).annotate(n=Count("pk"))
    return sorted((str(row[field]), row["n"]) for row in rows)


# --- Celery signals ----------------------------------------------------------------------------

_started: dict[str, float] = {}


def _task_name(sender: Any, kwargs: dict[str, Any]) -> str:
    task = kwargs.get("task") or sender
    return str(getattr(task, "name", None) or sender or "unknown")


def on_task_prerun(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def on_task_postrun(sender: Any = None, task_id: str | None = None, state: str | None = None, **kwargs: Any) -> None:
    began = _started.pop(task_id, None) if task_id else None
    if began is None:
        return
    outcome = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}.get(
        state or "", (state or "unknown").lower()
    )
    TASK_SECONDS.labels(task=_task_name(sender, kwargs), outcome=outcome).observe(time.perf_counter() - began)


def on_task_failure(sender: Any = None, exception: BaseException | None = None, **kwargs: Any) -> None:
    TASK_FAILURES.labels(task=_task_name(sender, kwargs), exception=type(exception).__name__).inc()


def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """Serve the worker's metrics on CELERY_METRICS_PORT (the worker has no Django views)."""
    port = int(getattr(settings, "CELERY_METRICS_PORT", 0) or 0)
    if not port:
        return
    start_http_server(port, addr=str(getattr(settings, "CELERY_METRICS_ADDR", "0.0.0.0")), registry=process_registry())  # noqa: S104  # nosec B104 the worker's container port; the network policy limits who reaches it
    logger.info("metrics: worker exporter on port %s", port)


def connect_task_signals() -> None:
    signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="kronos.metrics.prerun")
    signals.task_postrun.connect(on_task_postrun, weak=False, dispatch_uid="kronos.metrics.postrun")
    signals.task_failure.connect(on_task_failure, weak=False, dispatch_uid="kronos.metrics.failure")
    signals.worker_ready.connect(on_worker_ready, weak=False, dispatch_uid="kronos.metrics.worker_ready")
