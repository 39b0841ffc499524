from decimal import Decimal

import pytest

from portfolios.models import CashBalance
from tests.trading.factories import account_with, model_of
from trading.models import CashTransfer, Order

pytestmark = pytest.mark.django_db
D = Decimal


def post(client, url, data=None, key="k-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, data or {}, format="json", **headers)


def test_an_order_is_placed_once_per_idempotency_key(api, alice, advisor_account):
    client = api(alice.user)
    body = {"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "quantity": "10"}
    first = post(client, "/api/v1/orders/", body)
    assert first.status_code == 201, first.json()
    data = first.json()
    assert {
        k: data[k]
        for k in (
            "account",
            "symbol",
            "side",
            "order_type",
            "quantity",
            "limit_price",
            "status",
            "filled_quantity",
            "average_price",
        )
    } == {
        "account": advisor_account.pk,
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "market",
        "quantity": "10",
        "limit_price": None,
        "status": "approved",
        "filled_quantity": "0",
        "average_price": None,
    }
    again = post(client, "/api/v1/orders/", body)
    assert again.json()["id"] == data["id"]
    assert Order.objects.count() == 1
    assert post(client, "/api/v1/orders/", body, key=None).status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": "NaN"},
        {"quantity": "Infinity"},
        {"quantity": "1e30"},
        {"quantity": "1,000"},
        {"quantity": "0"},
        {"quantity": "-3"},
        {"quantity": 1.5},
        {"quantity": "0.0000000001"},
        {"symbol": "ZZZZ"},
        {"quantity": "500"},
        {"side": "short"},
        {"order_type": "limit"},
        {"quantity": None, "amount": {"amount": "10.001", "currency": "USD"}},
        {"quantity": None, "amount": {"amount": "10.00"}},
        {"quantity": None, "amount": {"amount": "10.00", "currency": "EUR"}},
    ],
)
def test_bad_orders_are_refused_with_400_and_nothing_changes(api, alice, advisor_account, change):
    body = {"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "quantity": "10", **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = post(api(alice.user), "/api/v1/orders/", body)
    assert response.status_code == 400, response.json()
    assert not Order.objects.exists()


def test_selling_more_than_held_is_a_400(api, alice, advisor_account):
    body = {"account": advisor_account.pk, "symbol": "AAPL", "side": "sell", "quantity": "100.5"}
    response = post(api(alice.user), "/api/v1/orders/", body)
    assert response.status_code == 400
    assert "Not enough AAPL" in response.json()["detail"]


def test_others_accounts_are_404_and_investors_read_only(api, bob, alice, charlie, advisor_account):
    body = {"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "quantity": "1"}
    assert post(api(bob.user), "/api/v1/orders/", body).status_code == 404
    assert post(api(charlie), "/api/v1/orders/", body).status_code == 404
    order = post(api(alice.user), "/api/v1/orders/", body, key="a").json()
    assert api(charlie).get(f"/api/v1/orders/{order['id']}/").status_code == 200
    assert api(bob.user).get(f"/api/v1/orders/{order['id']}/").status_code == 404
    assert api(bob.user).get("/api/v1/orders/").json()["count"] == 0
    assert post(api(alice.user, "read"), "/api/v1/orders/", body, key="b").status_code == 403


def test_an_order_is_cancelled_through_the_api(api, alice, advisor_account):
    client = api(alice.user)
    order = post(
        client, "/api/v1/orders/", {"account": advisor_account.pk, "symbol": "AAPL", "side": "buy", "quantity": "1"}
    ).json()
    response = post(client, f"/api/v1/orders/{order['id']}/cancel/", key="c")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = post(client, f"/api/v1/orders/{order['id']}/cancel/", key="c2")
    assert again.status_code == 400 and "already cancelled" in again.json()["detail"]


def test_deposits_and_withdrawals(api, alice, advisor_account):
    client = api(alice.user)
    response = post(
        client,
        f"/api/v1/accounts/{advisor_account.pk}/withdrawals/",
        {"amount": {"amount": "2500.00", "currency": "USD"}},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == {"amount": "2500.00", "currency": "USD"}
    assert CashBalance.objects.get(account=advisor_account).amount == D("7500.00")
    too_much = post(
        client,
        f"/api/v1/accounts/{advisor_account.pk}/withdrawals/",
        {"amount": {"amount": "7500.01", "currency": "USD"}},
        key="w2",
    )
    assert too_much.status_code == 400 and "Not enough cash" in too_much.json()["detail"]
    deposit = post(
        client,
        f"/api/v1/accounts/{advisor_account.pk}/deposits/",
        {"amount": {"amount": "100.00", "currency": "USD"}},
        key="d1",
    )
    assert deposit.status_code == 201 and deposit.json()["status"] == "requested"
    assert CashTransfer.objects.count() == 2
    journal = client.get(f"/api/v1/accounts/{advisor_account.pk}/transactions/").json()["results"]
    assert [e["kind"] for e in journal][:1] == ["withdrawal"]
    assert journal[0]["postings"] == [{"asset": "USD", "quantity": "-2500.00"}]


@pytest.mark.parametrize(
    "amount",
    [
        {"amount": "NaN", "currency": "USD"},
        {"amount": "Infinity", "currency": "USD"},
        {"amount": "1e30", "currency": "USD"},
        {"amount": "1,000", "currency": "USD"},
        {"amount": "10.001", "currency": "USD"},
        {"amount": "10.00"},
        {"amount": "10.00", "currency": "EUR"},
        {"amount": "0", "currency": "USD"},
        {"amount": "-5", "currency": "USD"},
        "100",
    ],
)
def test_bad_transfer_amounts_are_refused(api, alice, advisor_account, amount):
    response = post(api(alice.user), f"/api/v1/accounts/{advisor_account.pk}/deposits/", {"amount": amount})
    assert response.status_code == 400, response.json()
    assert not CashTransfer.objects.exists()


def test_a_proposal_is_created_read_and_approved(api, alice, alice_household, securities):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", model=model)
    client = api(alice.user)
    created = post(client, f"/api/v1/accounts/{account.pk}/rebalance-proposals/")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["needed"] is True and data["status"] == "proposed" and data["account"] == account.pk
    assert {t["symbol"]: t["side"] for t in data["trades"]} == {"AAPL": "buy", "BND": "buy"}
    assert all(isinstance(t["quantity"], str) and isinstance(t["estimated_amount"], str) for t in data["trades"])
    assert client.get(f"/api/v1/rebalance-proposals/{data['id']}/").json()["id"] == data["id"]
    approved = post(client, f"/api/v1/rebalance-proposals/{data['id']}/approve/", key="ap")
    assert approved.status_code == 200, approved.json()
    assert {o["symbol"] for o in approved.json()["orders"]} == {"AAPL", "BND"}
    assert all(o["status"] == "approved" for o in approved.json()["orders"])


@pytest.mark.usefixtures("uncached")
def test_the_orders_list_writes_what_its_schema_serializer_writes_in_two_queries(api, alice, advisor_account):
    """The list builds each order's answer from its row (`order_dict`); `OrderOutput` is its
    schema: for a market, a limit, an amount order and a sell naming its lots, both write the
    same keys in the same order with the same strings. The page and the count of every order
    are one query after the token's; filtering by account reads the account first (404 for
    another's)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from trading.api.orders import OrderOutput

    client = api(alice.user)
    bodies = [
        {"symbol": "AAPL", "side": "buy", "quantity": "1.5"},
        {"symbol": "AAPL", "side": "buy", "quantity": "2", "order_type": "limit", "limit_price": "99.125"},
        {"symbol": "AAPL", "side": "buy", "amount": {"amount": "250.10", "currency": "USD"}},
        {"symbol": "AAPL", "side": "sell", "quantity": "3", "lot_selection": {"method": "hifo"}},
    ]
    for i, body in enumerate(bodies):
        answer = post(client, "/api/v1/orders/", {"account": advisor_account.pk, **body}, key=f"o-{i}")
        assert answer.status_code == 201, answer.json()
    client.get("/api/v1/orders/")  # the token's first use
    with CaptureQueriesContext(connection) as ctx:
        listed = client.get("/api/v1/orders/").json()
    assert len(ctx.captured_queries) == 2, [q["sql"][:100] for q in ctx.captured_queries]
    orders = Order.objects.select_related("account", "security").order_by("-created_at", "-id")
    expected = [OrderOutput(order).data for order in orders]
    assert listed["count"] == 4
    assert [list(o) for o in listed["results"]] == [list(o) for o in expected]
    assert listed["results"] == [dict(o) for o in expected]
    assert {o["order_type"] for o in listed["results"]} == {"market", "limit"}
    assert any(o["amount"] == {"amount": "250.10", "currency": "USD"} for o in listed["results"])
    assert any(o["limit_price"] == "99.125" for o in listed["results"])
    assert any(o["lot_selection"] == {"method": "hifo"} for o in listed["results"])
    cancelled = listed["results"][0]["id"]
    assert post(client, f"/api/v1/orders/{cancelled}/cancel/", key="cancel").status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        by_status = client.get("/api/v1/orders/", {"status": "cancelled", "account": advisor_account.pk}).json()
    assert len(ctx.captured_queries) == 3  # the token, the account (in the user's scope), the page
    assert [o["id"] for o in by_status["results"]] == [cancelled] and by_status["count"] == 1
    assert client.get("/api/v1/orders/", {"status": "open"}).json()["count"] == 3
    assert client.get("/api/v1/orders/", {"page_size": 3, "page": 2}).json()["results"] == listed["results"][3:]
    assert client.get("/api/v1/orders/", {"account": advisor_account.pk + 1000}).status_code == 404
