"""The lots and realised-gains API and `lot_selection` on orders: fields, validation, scoping."""

from datetime import date, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from portfolios.models import LotClosure, TaxLot
from tests.accounts.factories import AdvisorFactory
from tests.portfolios.api_helpers import count_queries
from tests.trading.factories import account_with, filled_trade, make_security, today
from trading.models import Order

D = Decimal
pytestmark = pytest.mark.django_db


OLD = date(2020, 3, 2)


def money(amount):
    return {"amount": amount, "currency": "USD"}


@pytest.fixture
def washed(alice_household, alice):
    """The issue's example: 100 XYZ at $50 in 2020, 10 at $45 ten days ago, 44 sold at $40 today."""
    make_security("XYZ", "40")
    account = account_with(alice_household, cash="10000.00")
    filled_trade(account, "XYZ", "buy", "100", "50", OLD, alice.user)
    filled_trade(account, "XYZ", "buy", "10", "45", today() - timedelta(days=10), alice.user)
    filled_trade(account, "XYZ", "sell", "44", "40", today(), alice.user)
    return account


def test_lots_answer_the_contract_fields(api, alice, washed):
    rows = api(alice.user, "read").get(f"/api/v1/accounts/{washed.pk}/lots/").json()
    old, replacement = rows
    assert old == {
        "id": TaxLot.objects.get(account=washed, acquired_on=OLD).pk,
        "symbol": "XYZ",
        "acquired_on": OLD.isoformat(),
        "held_from": OLD.isoformat(),
        "quantity": "56",
        "cost_per_share": "50",
        "cost_basis": money("2800.00"),
        "market_value": money("2240.00"),
        "unrealized_gain": money("-560.00"),
        "term": "long",
        "wash_sale_disallowed": money("0.00"),
    }
    held_from = today() - timedelta(days=10) - timedelta(days=(today() - OLD).days)
    assert replacement["acquired_on"] == (today() - timedelta(days=10)).isoformat()
    assert replacement["held_from"] == held_from.isoformat()
    assert replacement["term"] == "long"  # the sold lot's holding period carried over
    assert replacement["cost_basis"] == money("550.00")  # 450 + the $100 disallowed
    assert replacement["unrealized_gain"] == money("-150.00")
    assert replacement["wash_sale_disallowed"] == money("100.00")


def test_realized_gains_answer_totals_and_rows(api, alice, washed):
    body = api(alice.user, "read").get(f"/api/v1/accounts/{washed.pk}/realized-gains/?year={today().year}").json()
    assert body["year"] == today().year
    assert body["long_term"] == money("-340.00")  # -440 with $100 of it disallowed
    assert body["short_term"] == money("0.00")
    assert body["wash_sale_disallowed"] == money("100.00")
    [row] = body["lots"]
    assert row == {
        "id": LotClosure.objects.get().pk,
        "lot": TaxLot.objects.get(account=washed, acquired_on=OLD).pk,
        "symbol": "XYZ",
        "quantity": "44",
        "acquired_on": OLD.isoformat(),
        "closed_on": today().isoformat(),
        "proceeds": money("1760.00"),
        "cost_basis": money("2200.00"),
        "gain": money("-440.00"),
        "term": "long",
        "wash_sale_disallowed": money("100.00"),
    }
    empty = api(alice.user, "read").get(f"/api/v1/accounts/{washed.pk}/realized-gains/?year=2019").json()
    assert empty["lots"] == [] and empty["long_term"] == money("0.00")


@pytest.mark.parametrize("year", ["abc", "", "1800", "99999", "2026.5"])
def test_a_bad_year_is_a_400_on_the_field(api, alice, washed, year):
    answer = api(alice.user, "read").get(f"/api/v1/accounts/{washed.pk}/realized-gains/?year={year}")
    assert answer.status_code == 400 and "year" in answer.json()


@pytest.mark.usefixtures("uncached")
def test_lots_and_gains_keep_a_fixed_query_count(api, alice, washed):
    client = api(alice.user, "read")
    lots_before = count_queries(client, f"/api/v1/accounts/{washed.pk}/lots/")
    gains_before = count_queries(client, f"/api/v1/accounts/{washed.pk}/realized-gains/")
    make_security("QQQ", "10")
    for n in range(3):
        filled_trade(washed, "QQQ", "buy", "5", "12", OLD + timedelta(days=n), alice.user)
    filled_trade(washed, "QQQ", "sell", "12", "10", today(), alice.user)
    assert count_queries(client, f"/api/v1/accounts/{washed.pk}/lots/") == lots_before
    assert count_queries(client, f"/api/v1/accounts/{washed.pk}/realized-gains/") == gains_before


def test_another_firms_advisor_gets_404_and_the_investor_reads_but_cannot_trade(api, charlie, washed):
    stranger = AdvisorFactory()
    for path in ("lots", "realized-gains"):
        assert api(stranger.user, "read trade").get(f"/api/v1/accounts/{washed.pk}/{path}/").status_code == 404
        assert api(charlie, "read").get(f"/api/v1/accounts/{washed.pk}/{path}/").status_code == 200
    lot = TaxLot.objects.filter(account=washed).first()
    order = {
        "account": washed.pk,
        "symbol": "XYZ",
        "side": "sell",
        "quantity": "1",
        "lot_selection": {"method": "specific", "lots": [{"id": lot.pk, "quantity": "1"}]},
    }
    # seeing is not trading: the investor's write is refused as the API refuses any account the
    # user may not trade (trading.api.common.account_for_write), and no order is made
    answer = api(charlie, "read trade").post("/api/v1/orders/", order, format="json", HTTP_IDEMPOTENCY_KEY="c1")
    assert answer.status_code in (403, 404)
    assert not Order.objects.filter(account=washed, quantity=1).exists()
    assert (
        api(stranger.user, "read trade")
        .post("/api/v1/orders/", order, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid4()))
        .status_code
        == 404
    )


def test_an_order_names_its_lots_through_the_api(api, alice, washed):
    old = TaxLot.objects.get(account=washed, acquired_on=OLD)
    order = {
        "account": washed.pk,
        "symbol": "XYZ",
        "side": "sell",
        "quantity": "3",
        "lot_selection": {"method": "specific", "lots": [{"id": old.pk, "quantity": "3"}]},
    }
    answer = api(alice.user).post("/api/v1/orders/", order, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid4()))
    assert answer.status_code == 201, answer.json()
    assert answer.json()["lot_selection"] == {"method": "specific", "lots": [{"id": old.pk, "quantity": "3"}]}
    fifo = api(alice.user).post(
        "/api/v1/orders/", {**order, "lot_selection": {"method": "fifo"}}, format="json", HTTP_IDEMPOTENCY_KEY="f1"
    )
    assert fifo.status_code == 201 and fifo.json()["lot_selection"] == {"method": "fifo"}


@pytest.mark.parametrize(
    "selection",
    [
        {"method": "specific", "lots": [{"id": "OLD", "quantity": "2"}]},  # sums to 2, not 3
        {"method": "specific", "lots": [{"id": "OTHER", "quantity": "3"}]},  # another account's lot
        {"method": "specific", "lots": [{"id": "OLD", "quantity": "abc"}]},
        {"method": "newest"},
        "hifo",
    ],
)
def test_a_bad_lot_selection_is_a_400_on_the_field(api, alice, alice_household, washed, selection):
    other = account_with(alice_household, cash="1000.00")
    filled_trade(other, "XYZ", "buy", "5", "40", OLD, alice.user)
    ids = {"OLD": TaxLot.objects.get(account=washed, acquired_on=OLD).pk, "OTHER": TaxLot.objects.get(account=other).pk}
    if isinstance(selection, dict):
        for item in selection.get("lots", []):
            item["id"] = ids[item["id"]]
    order = {"account": washed.pk, "symbol": "XYZ", "side": "sell", "quantity": "3", "lot_selection": selection}
    answer = api(alice.user).post("/api/v1/orders/", order, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid4()))
    assert answer.status_code == 400 and "lot_selection" in answer.json(), answer.json()
    assert not {"account", "symbol", "quantity", "side"} & set(answer.json())


def test_the_accounts_lot_relief_method_is_set_through_the_api(api, alice, washed):
    client = api(alice.user)
    assert client.get(f"/api/v1/accounts/{washed.pk}/").json()["lot_relief_method"] == "hifo"
    answer = client.patch(f"/api/v1/accounts/{washed.pk}/", {"lot_relief_method": "tax_optimised"}, format="json")
    assert answer.status_code == 200 and answer.json()["lot_relief_method"] == "tax_optimised"
    bad = client.patch(f"/api/v1/accounts/{washed.pk}/", {"lot_relief_method": "lifo"}, format="json")
    assert bad.status_code == 400 and "lot_relief_method" in bad.json()
