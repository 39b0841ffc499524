import json
import time
from decimal import Decimal

import pytest

from trading import services
from trading.adapters.custodian import signing
from trading.models import Execution, Order, WebhookEvent

pytestmark = pytest.mark.django_db
SECRET = "test-webhook-secret"


def _fill_event(order, *, event_id="evt_1", execution_id="X1", quantity="10"):
    return {
        "id": event_id,
        "type": "order.fill",
        "data": {
            "client_order_id": order.client_order_id,
            "execution_id": execution_id,
            "quantity": quantity,
            "price": "150",
            "order_quantity": "10",
        },
    }


def _post(client, event, *, secret=SECRET, timestamp=None, header=None):
    body = json.dumps(event).encode()
    header = header if header is not None else signing.sign(secret, body, timestamp=timestamp)
    return client.post(
        "/webhooks/custodian/", data=body, content_type="application/json", HTTP_X_CUSTODIAN_SIGNATURE=header
    )


@pytest.fixture
def order(advisor_account, alice):
    return services.order_create(
        account=advisor_account,
        security="AAPL",
        side="buy",
        quantity=Decimal("10"),
        acting_user=alice.user,
        source="advisor",
    )


@pytest.fixture
def submitted(order, alice):
    return services.order_transition(order, "submitted", acting_user=alice.user)


def test_a_webhook_delivered_twice_fills_once(client, submitted):
    assert _post(client, _fill_event(submitted)).json() == {"result": "applied"}
    assert _post(client, _fill_event(submitted)).json() == {"result": "duplicate"}
    submitted.refresh_from_db()
    assert submitted.status == "filled" and Execution.objects.count() == 1


def test_the_same_execution_under_a_new_event_id_fills_once(client, submitted):
    _post(client, _fill_event(submitted))
    assert _post(client, _fill_event(submitted, event_id="evt_2")).json() == {"result": "duplicate fill"}
    assert Execution.objects.count() == 1


def test_a_fill_that_beats_the_relay_marks_the_order_submitted_then_filled(client, order):
    assert order.status == "approved"
    _post(client, _fill_event(order))
    order.refresh_from_db()
    assert order.status == "filled"
    assert list(order.history.order_by("history_id").values_list("status", flat=True))[-2:] == ["submitted", "filled"]


def test_a_bad_signature_is_refused_and_nothing_changes(client, submitted):
    assert _post(client, _fill_event(submitted), secret="wrong").status_code == 401
    assert _post(client, _fill_event(submitted), header="").status_code == 401
    assert _post(client, _fill_event(submitted), header="t=abc,v1=00").status_code == 401
    assert not WebhookEvent.objects.exists() and not Execution.objects.exists()


def test_a_stale_timestamp_is_refused(client, submitted):
    response = _post(client, _fill_event(submitted), timestamp=int(time.time()) - 3600)
    assert response.status_code == 400 and "too old" in response.json()["detail"]
    assert not Execution.objects.exists()


def test_a_future_dated_timestamp_is_refused(client, submitted):
    """Issue 12: one shared verifier (kronos/webhooks.py) refuses a timestamp ahead of the clock
    beyond the tolerance, as it refuses an old one."""
    response = _post(client, _fill_event(submitted), timestamp=int(time.time()) + 3600)
    assert response.status_code == 400 and "future" in response.json()["detail"]
    assert not Execution.objects.exists() and not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        "t=1" + "0" * 309 + ",v1=00",  # a time beyond a float: OverflowError, a 500, before
        "t=１７００００００００,v1=00",  # full-width digits, which int() accepts
        "t=1700000000,v1=é",  # a non-ASCII signature: compare_digest raised TypeError, a 500
    ],
    ids=["overflow", "fullwidth", "non-ascii"],
)
def test_a_malformed_signature_header_is_refused_not_a_server_error(client, submitted, header):
    body = json.dumps(_fill_event(submitted)).encode()
    response = client.post(
        "/webhooks/custodian/",
        data=body,
        content_type="application/json",
        HTTP_X_CUSTODIAN_SIGNATURE=header.encode().decode("latin-1"),
    )
    assert response.status_code in (400, 401)
    assert not WebhookEvent.objects.exists()


def test_a_signed_overflowing_timestamp_is_refused(client, submitted):
    ts = 10**309
    body = json.dumps(_fill_event(submitted)).encode()
    header = f"t={ts},v1={signing.compute(SECRET, ts, body)}"
    response = _post(client, _fill_event(submitted), header=header)
    assert response.status_code in (400, 401)
    assert not Execution.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"client_order_id": "nope", "execution_id": "X", "quantity": "1", "price": "1"},
        {"execution_id": "X", "quantity": "NaN", "price": "1"},
        {"execution_id": "X", "quantity": "-1", "price": "1"},
        {"execution_id": "", "quantity": "1", "price": "1"},
    ],
)
def test_an_unreadable_event_is_a_400_and_recorded_nowhere(client, submitted, data):
    data.setdefault("client_order_id", submitted.client_order_id)
    response = _post(client, {"id": "evt_bad", "type": "order.fill", "data": data})
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists() and not Execution.objects.exists()
    assert Order.objects.get().status == "submitted"
