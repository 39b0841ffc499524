"""The portfolios API, investment accounts: the contract, per-role scope, opening and settings."""

from decimal import Decimal

import pytest

from portfolios import services
from portfolios.models import InvestmentAccount
from tests.accounts.factories import HouseholdFactory
from tests.portfolios.api_helpers import count_queries
from tests.portfolios.factories import InvestmentAccountFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_suitability_hook")]


def test_the_account_answers_the_contract(api, alice, modelled):
    body = api(alice.user).get(f"/api/v1/accounts/{modelled.pk}/").json()
    assert set(body) >= {
        "id", "household", "name", "account_type", "custodian_account_number", "model", "drift_threshold",
        "cash_reserve", "min_trade_amount", "fractional_shares", "rebalance_mode", "market_value", "cash", "max_drift",
    }  # fmt: skip
    assert body["market_value"] == {"amount": "9500.00", "currency": "USD"}
    assert body["cash"] == {"amount": "1000.00", "currency": "USD"}
    assert body["drift_threshold"] == "0.05"
    assert body["max_drift"] == "0.442105"  # AAPL 15.79% against 60%
    assert body["model"] == modelled.model_id
    assert body["min_trade_amount"] == {"amount": "0.00", "currency": "USD"}


def test_accounts_are_scoped_per_role(api, alice, bob, charlie, officer, modelled, bob_household):
    bobs = InvestmentAccountFactory(household=bob_household)
    outsider = InvestmentAccountFactory(household=HouseholdFactory())
    ids = lambda client: {a["id"] for a in client.get("/api/v1/accounts/").json()["results"]}  # noqa: E731
    assert ids(api(alice.user, "read")) == {modelled.pk}
    assert ids(api(bob.user, "read")) == {bobs.pk}
    assert ids(api(charlie, "read")) == {modelled.pk}
    assert ids(api(officer, "read")) == {modelled.pk, bobs.pk}
    for path in ("", "positions/", "drift/", "performance/"):
        assert api(bob.user, "read").get(f"/api/v1/accounts/{modelled.pk}/{path}").status_code == 404
        assert api(charlie, "read").get(f"/api/v1/accounts/{bobs.pk}/{path}").status_code == 404
        assert api(officer, "read").get(f"/api/v1/accounts/{outsider.pk}/{path}").status_code == 404


def test_the_advisor_opens_an_account(api, alice, alice_household, model_60_40):
    answer = api(alice.user).post(
        "/api/v1/accounts/",
        {
            "household": alice_household.pk,
            "name": "Joint brokerage",
            "account_type": "joint",
            "custodian_account_number": "KR-9000",
            "model": model_60_40.pk,
            "drift_threshold": "0.03",
            "cash_reserve": "0.02",
            "min_trade_amount": {"amount": "50.00", "currency": "USD"},
            "fractional_shares": True,
            "rebalance_mode": "automatic",
        },
    )
    assert answer.status_code == 201, answer.json()
    account = InvestmentAccount.objects.get(custodian_account_number="KR-9000")
    assert (account.drift_threshold, account.cash_reserve, account.min_trade_amount) == (
        Decimal("0.03"), Decimal("0.02"), Decimal("50.00"),
    )  # fmt: skip
    assert account.model == model_60_40 and account.rebalance_mode == "automatic"
    assert account.history.first().history_user == alice.user
    assert answer.json()["market_value"] == {"amount": "0.00", "currency": "USD"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"drift_threshold": "0"}, "drift_threshold"),
        ({"drift_threshold": "1.5"}, "drift_threshold"),
        ({"cash_reserve": "1"}, "cash_reserve"),
        ({"min_trade_amount": {"amount": "-1", "currency": "USD"}}, "min_trade_amount"),
        ({"min_trade_amount": "50"}, "min_trade_amount"),
        ({"rebalance_mode": "sometimes"}, "rebalance_mode"),
        ({"household": 999999}, "household"),
        ({"model": 999999}, "model"),
    ],
)
def test_a_bad_account_is_refused_and_nothing_written(api, alice, alice_household, change, field):
    data = {"household": alice_household.pk, "name": "Bad", "custodian_account_number": "KR-BAD", **change}
    answer = api(alice.user).post("/api/v1/accounts/", data, format="json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert not InvestmentAccount.objects.filter(custodian_account_number="KR-BAD").exists()


def test_only_the_households_advisor_opens_or_changes_accounts(api, bob, charlie, officer, alice_household, modelled):
    data = {"household": alice_household.pk, "name": "X", "custodian_account_number": "KR-X"}
    assert api(charlie).post("/api/v1/accounts/", data).status_code == 403
    assert api(officer).post("/api/v1/accounts/", data).status_code == 403
    assert api(bob.user).post("/api/v1/accounts/", data).status_code == 400  # not his household: unknown to him
    assert api(charlie).patch(f"/api/v1/accounts/{modelled.pk}/", {"drift_threshold": "0.1"}).status_code == 403
    assert api(bob.user).patch(f"/api/v1/accounts/{modelled.pk}/", {"drift_threshold": "0.1"}).status_code == 404


def test_the_advisor_changes_settings_and_the_model(api, alice, modelled):
    answer = api(alice.user).patch(
        f"/api/v1/accounts/{modelled.pk}/", {"drift_threshold": "0.5", "model": None, "name": "Renamed"}
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["drift_threshold"] == "0.5" and body["model"] is None and body["name"] == "Renamed"
    assert body["max_drift"] is None


def test_the_advisor_sets_dividend_reinvestment_through_the_api(api, alice, bob, modelled):
    url = f"/api/v1/accounts/{modelled.pk}/"
    assert api(alice.user).get(url).json()["reinvest_dividends"] is False
    answer = api(alice.user).patch(url, {"reinvest_dividends": True}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["reinvest_dividends"] is True
    modelled.refresh_from_db()
    assert modelled.reinvest_dividends is True and modelled.history.latest().history_user == alice.user
    refused = api(alice.user).patch(url, {"reinvest_dividends": "sometimes"}, format="json")
    assert refused.status_code == 400 and "reinvest_dividends" in str(refused.json())
    assert api(bob.user).patch(url, {"reinvest_dividends": False}, format="json").status_code == 404
    modelled.refresh_from_db()
    assert modelled.reinvest_dividends is True


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_accounts_keep_a_fixed_query_count_for_10_and_500(api, alice, securities, model_60_40):
    client = api(alice.user, "read")

    def book(count, prefix, fund_every):
        for i in range(count):
            household = HouseholdFactory(advisor=alice, firm=alice.firm, name=f"{prefix} {i:04d}")
            account = InvestmentAccountFactory(household=household, model=model_60_40)
            if i % fund_every == 0:
                services.transfer_in(
                    account=account,
                    positions=[{"symbol": "AAPL", "quantity": Decimal(1 + i % 5), "cost_basis": Decimal("90")}],
                    cash=Decimal("50"),
                    acting_user=alice.user,
                    idempotency_key=f"{prefix}-{i}",
                )

    book(10, "Small", 1)
    small = count_queries(client, "/api/v1/accounts/", {"page_size": 500})
    book(490, "Large", 10)
    assert count_queries(client, "/api/v1/accounts/", {"page_size": 500}) == small
    assert len(client.get("/api/v1/accounts/", {"page_size": 500}).json()["results"]) == 500


def test_calendar_rebalancing_is_an_account_setting(api, alice, modelled):
    client = api(alice.user)
    assert client.get(f"/api/v1/accounts/{modelled.pk}/").json()["rebalance_schedule"] == "threshold"
    answer = client.patch(f"/api/v1/accounts/{modelled.pk}/", {"rebalance_schedule": "quarterly"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["rebalance_schedule"] == "quarterly"
    bad = client.patch(f"/api/v1/accounts/{modelled.pk}/", {"rebalance_schedule": "weekly"}, format="json")
    assert bad.status_code == 400 and "rebalance_schedule" in bad.json()
    modelled.refresh_from_db()
    assert modelled.rebalance_schedule == "quarterly"


def test_an_unchanged_account_answers_304_to_its_etag_and_a_change_gives_a_new_one(api, alice, modelled):
    client = api(alice.user)
    first = client.get(f"/api/v1/accounts/{modelled.pk}/")
    etag = first.headers["ETag"]
    again = client.get(f"/api/v1/accounts/{modelled.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content) == (304, b"")
    services.account_update(account=modelled, name="Renamed", acting_user=alice.user)
    changed = client.get(f"/api/v1/accounts/{modelled.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["name"] == "Renamed"
    assert changed.headers["ETag"] != etag
    # Another user's answer is never a 304 to this one's tag: the tag is the body's hash.
    assert api(alice.user).get("/api/v1/accounts/", HTTP_IF_NONE_MATCH=etag).status_code == 200


@pytest.mark.usefixtures("uncached")
def test_the_list_pages_count_with_their_rows(api, alice, alice_household, bob_household):
    """A page and the count of every row come in one query (a window count); the links, "last",
    a filter and a page past the last answer as DRF's paginator does (404 "Invalid page.")."""
    mine = [InvestmentAccountFactory(household=alice_household, name=f"Account {i}") for i in range(5)]
    InvestmentAccountFactory(household=bob_household)
    client = api(alice.user, "read")
    first = client.get("/api/v1/accounts/", {"page_size": 2}).json()
    assert first["count"] == 5 and first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/accounts/?page=2&page_size=2"
    assert [a["id"] for a in first["results"]] == [a.pk for a in mine[:2]]
    second = client.get("/api/v1/accounts/", {"page_size": 2, "page": 2}).json()
    assert second["previous"] == "http://testserver/api/v1/accounts/?page_size=2"
    assert second["next"] == "http://testserver/api/v1/accounts/?page=3&page_size=2"
    last = client.get("/api/v1/accounts/", {"page_size": 2, "page": "last"}).json()
    assert [a["id"] for a in last["results"]] == [mine[4].pk] and last["next"] is None and last["count"] == 5
    assert client.get("/api/v1/accounts/", {"page_size": 2, "page": 3}).json() == last
    past = client.get("/api/v1/accounts/", {"page_size": 2, "page": 4})
    assert past.status_code == 404 and past.json()["detail"] == "Invalid page."
    # A page whose offset no database column holds (PostgreSQL's OFFSET is a bigint) is past the
    # last too, not a 500 -- nor an aborted transaction for what the request does next.
    for page in (2**62 + 1, 41861932656324198988261402045579264):
        beyond = client.get("/api/v1/accounts/", {"page_size": 2, "page": page, "household": alice_household.pk})
        assert beyond.status_code == 404 and beyond.json()["detail"] == "Invalid page."
    only = client.get("/api/v1/accounts/", {"household": alice_household.pk, "page_size": 4, "page": 2}).json()
    assert only["count"] == 5 and [a["id"] for a in only["results"]] == [mine[4].pk]
    empty = client.get("/api/v1/accounts/", {"household": bob_household.pk}).json()
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}
