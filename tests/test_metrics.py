"""/metrics: who may scrape it, and what it reports (HTTP by view, Celery tasks, domain gauges),
plus request and task ids in the JSON logs."""

import io
import json
import logging
import sys
import uuid

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from accounts.models import Household
from kronos import metrics
from kronos.celery import app as celery_app
from tests.accounts.factories import HouseholdFactory

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.9"


@celery_app.task(name="tests.metrics.echo")
def echo(value):
    logging.getLogger("tests.metrics").warning("echo %s", value)
    if value == "boom":
        raise ValueError("boom")
    return value


def scrape(client, **extra):
    answer = client.get("/metrics", **extra)
    assert answer.status_code == 200, answer.status_code
    return answer.content.decode()


def samples(text, name):
    return [line for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " ")]


# --- access ------------------------------------------------------------------------------------

TOKEN = "s3cret-scrape-token"


@pytest.fixture(autouse=True)
def _scrape_token(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.fixture
def client():
    """Prometheus as configured in production: the bearer token on every scrape."""
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


@pytest.fixture
def anonymous():
    from django.test import Client

    return Client()


def test_it_answers_the_bearer_token(client):
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")


def test_loopback_without_the_token_is_refused_unless_allowed(anonymous, settings):
    """Behind a reverse proxy on the same host every caller is 127.0.0.1: loopback alone is no
    credential (issue 12). Only an explicitly configured allowlist lets an address in."""
    assert anonymous.get("/metrics").status_code == 403
    assert anonymous.get("/metrics", REMOTE_ADDR="::1").status_code == 403
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1/32"]
    assert anonymous.get("/metrics").status_code == 200


def test_loopback_is_refused_even_with_no_token_configured(anonymous, settings):
    settings.METRICS_TOKEN = ""
    assert anonymous.get("/metrics").status_code == 403


def test_it_refuses_an_address_outside_the_allow_list(anonymous):
    assert anonymous.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403


def test_it_accepts_the_bearer_token_from_anywhere(client):
    answer = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    assert answer.status_code == 200


def test_it_refuses_a_wrong_token(anonymous):
    answer = anonymous.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer guess")
    assert answer.status_code == 403


def test_it_accepts_a_configured_network(anonymous, settings):
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]
    assert anonymous.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 200
    assert anonymous.get("/metrics", REMOTE_ADDR="198.51.100.1").status_code == 403


def test_it_needs_no_login_or_second_factor(client, alice):
    client.force_login(alice.user)  # an unverified advisor session must not be redirected to 2FA
    assert client.get("/metrics").status_code == 200


# --- HTTP ----------------------------------------------------------------------------------------


def test_it_reports_request_latency_by_view(client):
    client.get("/healthz")
    text = scrape(client)
    latency = samples(text, "django_http_requests_latency_seconds_by_view_method_count")
    assert any('view="healthz"' in line and 'method="GET"' in line for line in latency), latency[:5]


# --- Celery ----------------------------------------------------------------------------------------


def test_it_times_tasks_by_outcome(client):
    echo.apply(args=("hello",))
    echo.apply(args=("boom",))
    text = scrape(client)
    counts = samples(text, "kronos_celery_task_seconds_count")
    assert any('task="tests.metrics.echo"' in line and 'outcome="success"' in line for line in counts)
    assert any('task="tests.metrics.echo"' in line and 'outcome="failure"' in line for line in counts)


def test_it_counts_task_failures_by_exception(client):
    before = _value(scrape(client), "kronos_celery_task_failures_total", 'exception="ValueError"')
    echo.apply(args=("boom",))
    after = _value(scrape(client), "kronos_celery_task_failures_total", 'exception="ValueError"')
    assert after == before + 1


def _value(text, name, *labels):
    for line in samples(text, name):
        if 'task="tests.metrics.echo"' in line and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- Domain gauges ----------------------------------------------------------------------------------


def test_it_reports_households_by_status(client, alice):
    HouseholdFactory.create_batch(2, advisor=alice, firm=alice.firm)
    HouseholdFactory(advisor=alice, firm=alice.firm, status=Household.Status.PROSPECT)
    text = scrape(client)
    assert 'kronos_households{status="active"} 2.0' in text
    assert 'kronos_households{status="prospect"} 1.0' in text


def test_it_reports_task_results_of_the_last_day(client):
    for status in ("SUCCESS", "FAILURE", "FAILURE"):
        TaskResult.objects.create(
            task_id=str(uuid.uuid4()), task_name="trading.nightly", status=status, date_done=timezone.now()
        )
    text = scrape(client)
    assert 'kronos_celery_task_results{status="FAILURE",task="trading.nightly"} 2.0' in text
    assert 'kronos_celery_task_results{status="SUCCESS",task="trading.nightly"} 1.0' in text


def test_it_counts_rows_by_state_for_whatever_order_model_exists(client, alice, monkeypatch):
    # Stand in for trading.Order with a model that has a status field: the collector only needs that.
    monkeypatch.setattr(metrics, "ORDER_MODELS", [("nope", "Missing"), ("accounts", "Household")])
    HouseholdFactory(advisor=alice, firm=alice.firm, status=Household.Status.CLOSED)
    assert 'kronos_orders{state="closed"} 1.0' in scrape(client)


def test_it_counts_open_breaks_when_the_model_has_a_status(client, alice, monkeypatch):
    monkeypatch.setattr(metrics, "BREAK_MODELS", [("accounts", "Household")])
    monkeypatch.setattr(metrics, "OPEN_BREAK_VALUES", ("active",))
    HouseholdFactory.create_batch(3, advisor=alice, firm=alice.firm)
    HouseholdFactory(advisor=alice, firm=alice.firm, status=Household.Status.CLOSED)
    assert "kronos_reconciliation_breaks_open 3.0" in scrape(client)


def test_it_leaves_out_gauges_whose_models_do_not_exist(client, monkeypatch):
    monkeypatch.setattr(metrics, "ORDER_MODELS", [("trading", "NoSuchModel")])
    monkeypatch.setattr(metrics, "BREAK_MODELS", [("nope", "Missing")])
    monkeypatch.setattr(metrics, "JOB_RUN_MODELS", [("nope", "Missing")])
    text = scrape(client)
    assert "kronos_orders{" not in text
    assert "kronos_reconciliation_breaks_open " not in text
    assert "kronos_households" in text


def test_domain_gauges_take_a_fixed_number_of_queries(client, alice, django_assert_max_num_queries):
    HouseholdFactory.create_batch(30, advisor=alice, firm=alice.firm)
    with django_assert_max_num_queries(8):
        scrape(client)


# --- Logs ----------------------------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """The console handler configured in settings.LOGGING, writing into a buffer."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "name", "") == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)

    def lines():
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]

    yield lines
    handler.setStream(previous or sys.stderr)


def test_a_log_line_carries_the_request_id(client, json_log):
    answer = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-0123456789")
    assert answer.status_code == 404
    assert answer["X-Request-ID"] == "req-0123456789"
    lines = [line for line in json_log() if line["name"] == "django.request"]
    assert lines and lines[-1]["request_id"] == "req-0123456789"


def test_a_task_log_line_carries_a_request_id_and_a_task_trace_id(json_log):
    echo.apply(args=("traced",))
    line = next(line for line in json_log() if line["message"] == "echo traced")
    assert line["request_id"]
    assert line["task_trace_id"]
