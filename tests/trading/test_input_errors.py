"""Issue 12: input anyone can send is a 400 with a clear message, never a 500 — refused by
shared layers (kronos/inputs.py, kronos/api/params.py, kronos/api/fields.py), not per URL."""

import json
from decimal import Decimal

import pytest

from kronos.api.fields import QuantityField
from trading.models import Order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/accounts/?search=%00",
        "/api/v1/securities/?search=%00",
        "/api/v1/households/?search=%00",
        "/api/v1/orders/?status=%00",
        "/api/v1/accounts/?search=ok&%00=1",
    ],
)
def test_a_nul_in_the_query_string_is_a_400(api, alice, alice_household, url):
    answer = api(alice.user).get(url)
    assert answer.status_code == 400, answer.content
    assert "NUL" in answer.json()["detail"]


def test_a_nul_in_a_page_query_string_is_a_400(verified_client, alice, alice_household):
    answer = verified_client(alice.user).get("/households/?q=%00")
    assert answer.status_code == 400 and b"NUL" in answer.content


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/accounts/?household=10000000000000000001", "household"),
        ("/api/v1/accounts/?model=99999999999999999999999", "model"),
        ("/api/v1/accounts/?household=%C2%B2", "household"),  # "²": isdigit() but not int()
        ("/api/v1/accounts/?household=%EF%BC%91", "household"),  # full-width 1
        ("/api/v1/orders/?account=10000000000000000001", "account"),
        ("/api/v1/orders/?account=abc", "account"),
    ],
)
def test_an_id_out_of_range_or_not_ascii_in_a_filter_is_a_400(api, alice, alice_household, url, param):
    answer = api(alice.user).get(url)
    assert answer.status_code == 400, answer.content
    assert param in answer.json()


def test_a_deeply_nested_json_body_is_a_400(api, alice, advisor_account):
    body = "[" * 5000 + "]" * 5000
    answer = api(alice.user).post(
        "/api/v1/orders/", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep-1"
    )
    assert answer.status_code == 400 and "nested deeper" in answer.json()["detail"]
    assert not Order.objects.exists()


def test_json_nested_beyond_the_limit_but_parseable_is_a_400(api, alice, advisor_account):
    nested: object = []
    for _ in range(40):
        nested = [nested]
    body = json.dumps({"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "quantity": "1", "x": nested})
    answer = api(alice.user).post(
        "/api/v1/orders/", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep-2"
    )
    assert answer.status_code == 400 and "nested deeper" in answer.json()["detail"]


def test_a_nul_inside_a_json_string_is_a_400(api, alice, advisor_account):
    body = json.dumps(
        {"account": advisor_account.pk, "symbol": "AA\u0000PL", "side": "buy", "order_type": "market", "quantity": "1"}
    )
    answer = api(alice.user).post(
        "/api/v1/orders/", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="nul-1"
    )
    assert answer.status_code == 400 and "NUL" in answer.json()["detail"]
    assert not Order.objects.exists()


@pytest.mark.parametrize("quantity", ["１０", "٣", "1０", "１.5"])
def test_full_width_and_other_script_digits_are_refused_as_quantities(quantity):
    from rest_framework import serializers

    class Input(serializers.Serializer):
        quantity = QuantityField()

    data = Input(data={"quantity": quantity})
    assert not data.is_valid()
    assert "quantity" in data.errors


def test_a_full_width_quantity_places_no_order(api, alice, advisor_account):
    answer = api(alice.user).post(
        "/api/v1/orders/",
        {"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "order_type": "market", "quantity": "１０"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="fullwidth-1",
    )
    assert answer.status_code == 400 and "quantity" in answer.json()
    assert not Order.objects.exists()
    # The ASCII spelling is still an order.
    answer = api(alice.user).post(
        "/api/v1/orders/",
        {"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "order_type": "market", "quantity": "10"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ascii-1",
    )
    assert answer.status_code == 201, answer.content
    assert Order.objects.get().quantity == Decimal("10")


def test_a_deeply_nested_signed_webhook_is_a_400(client, settings):
    from trading.adapters.custodian import signing

    settings.CUSTODIAN_WEBHOOK_SECRET = "test-webhook-secret"
    body = b"[" * 5000 + b"]" * 5000
    answer = client.post(
        "/webhooks/custodian/",
        data=body,
        content_type="application/json",
        HTTP_X_CUSTODIAN_SIGNATURE=signing.sign("test-webhook-secret", body),
    )
    assert answer.status_code == 400
