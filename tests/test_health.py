import json
import logging

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_cache_and_broker(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"database", "cache", "broker"}


def test_healthz_says_which_part_is_down(client, settings):
    """Redis away is degraded mode, not down (issue 12): a 200 keeps the balancer sending traffic."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_healthz_is_a_503_when_the_database_is_down(client, monkeypatch):
    from kronos import health

    def down() -> None:
        raise RuntimeError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", down)
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["status"] == "down"


def test_responses_carry_a_request_id_and_logs_name_it(client):
    answer = client.get("/healthz", HTTP_X_REQUEST_ID="4b1d2c9e8f7a4e5b9c0d1e2f3a4b5c6d")
    assert answer.headers["X-Request-ID"] == "4b1d2c9e8f7a4e5b9c0d1e2f3a4b5c6d"
    handler = logging.getLogger().handlers[0]
    record = logging.LogRecord("kronos.test", logging.INFO, __file__, 1, "hello", None, None)
    record.correlation_id = "abc123"
    line = handler.formatter.format(record)
    parsed = json.loads(line)
    assert parsed["message"] == "hello" and parsed["request_id"] == "abc123" and parsed["level"] == "INFO"
