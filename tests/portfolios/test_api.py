"""The portfolios API, securities and prices: the contract's shapes, per-role access, refusals and
fixed query counts. (Models, accounts, positions and transfers in: tests/portfolios/test_api_*.py.)"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portfolios.models import Price, Security
from tests.portfolios.api_helpers import count_queries

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_suitability_hook")]


def test_anyone_signed_in_lists_securities(api, charlie, securities):
    body = api(charlie, "read").get("/api/v1/securities/").json()
    assert [s["symbol"] for s in body["results"]] == ["AAPL", "BND", "VXUS"]
    assert set(body["results"][0]) >= {"symbol", "name", "asset_class", "currency"}


def test_operations_add_a_security(api, ops):
    answer = api(ops).post(
        "/api/v1/securities/", {"symbol": "vti", "name": "Total Market", "asset_class": "us_equity", "currency": "USD"}
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["symbol"] == "VTI"
    assert Security.history.filter(symbol="VTI").first().history_user == ops


def test_an_advisor_may_not_add_a_security(api, alice):
    answer = api(alice.user).post("/api/v1/securities/", {"symbol": "VTI"})
    assert answer.status_code == 403
    assert not Security.objects.filter(symbol="VTI").exists()


def test_writes_need_the_trade_scope(api, ops):
    answer = api(ops, "read").post("/api/v1/securities/", {"symbol": "VTI"})
    assert answer.status_code == 403
    assert "scope" in answer.json()["detail"]


def test_a_duplicate_security_is_a_409_and_a_bad_one_a_400(api, ops, securities):
    assert api(ops).post("/api/v1/securities/", {"symbol": "AAPL"}).status_code == 409
    answer = api(ops).post("/api/v1/securities/", {"symbol": "X Y", "currency": "ZZZ"})
    assert answer.status_code == 400 and set(answer.json()) >= {"symbol", "currency"}


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_securities_keep_a_fixed_query_count(api, ops):
    client = api(ops, "read")
    for i in range(10):
        Security.objects.create(symbol=f"S{i:03d}")
    small = count_queries(client, "/api/v1/securities/", {"page_size": 500})
    Security.objects.bulk_create([Security(symbol=f"T{i:03d}") for i in range(490)])
    assert count_queries(client, "/api/v1/securities/", {"page_size": 500}) == small


def test_operations_store_prices_and_get_the_count(api, ops, securities):
    yesterday = (date.today() - timedelta(days=3)).isoformat()
    answer = api(ops).post(
        "/api/v1/prices/",
        {
            "prices": [
                {"symbol": "AAPL", "date": yesterday, "close": "151.25"},
                {"symbol": "bnd", "date": yesterday, "close": 71},
            ]
        },
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["stored"] == 2
    assert Price.objects.get(security__symbol="AAPL", date=yesterday).close == Decimal("151.25")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"symbol": "NOPE", "date": "2024-01-02", "close": "10"}, "symbol"),
        ({"symbol": "AAPL", "date": "2999-01-02", "close": "10"}, "date"),
        ({"symbol": "AAPL", "date": "2024-01-02", "close": "0"}, "close"),
        ({"symbol": "AAPL", "date": "2024-01-02", "close": "-3"}, "close"),
        ({"symbol": "AAPL", "date": "2024-01-02", "close": 10.5}, "close"),
        ({"symbol": "AAPL", "date": "2024-01-02", "close": "NaN"}, "close"),
        ({"symbol": "AAPL", "date": "02/01/2024", "close": "10"}, "date"),
    ],
)
def test_prices_are_all_or_nothing(api, ops, securities, row, field):
    good = {"symbol": "BND", "date": "2024-01-02", "close": "70"}
    before = Price.objects.count()
    answer = api(ops).post("/api/v1/prices/", {"prices": [good, row]})
    assert answer.status_code == 400
    assert field in answer.json()["prices"]["1"]  # errors keyed by the row's index
    assert Price.objects.count() == before


def test_an_advisor_may_not_store_prices(api, alice, securities):
    answer = api(alice.user).post(
        "/api/v1/prices/", {"prices": [{"symbol": "AAPL", "date": "2024-01-02", "close": "1"}]}
    )
    assert answer.status_code == 403
