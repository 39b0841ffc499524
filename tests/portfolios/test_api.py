"""The portfolios API: the contract's shapes, per-role access, refusals and fixed query counts."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolios import services
from portfolios.checks import MODEL_ASSIGN_CHECKS
from portfolios.models import InvestmentAccount, ModelPortfolio, Price, Security, TaxLot
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, UserFactory
from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_suitability_hook(settings, override_checks):
    override_checks(MODEL_ASSIGN_CHECKS)  # compliance tests its own hook


@pytest.fixture
def ops(alice):
    return UserFactory(email="ops@example.com", roles=["operations"], firm=alice.firm)


@pytest.fixture
def officer(alice):
    return UserFactory(email="carol@example.com", roles=["compliance officer"], firm=alice.firm)


@pytest.fixture
def model_60_40(alice, securities):
    return services.model_portfolio_create(
        firm=alice.firm,
        name="Balanced 60/40",
        risk_level=5,
        targets={"AAPL": Decimal("0.6"), "BND": Decimal("0.4")},
        acting_user=alice.user,
    )


@pytest.fixture
def modelled(funded, model_60_40, alice):
    return services.model_assign(account=funded, model=model_60_40, acting_user=alice.user)


def count_queries(client, path, params=None):
    with CaptureQueriesContext(connection) as ctx:
        answer = client.get(path, params or {})
        assert answer.status_code == 200, answer.content
    return len(ctx.captured_queries)


# --- Securities and prices ------------------------------------------------------------------------


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


# --- Model portfolios -------------------------------------------------------------------------------


def test_an_advisor_creates_a_model(api, alice, securities):
    answer = api(alice.user).post(
        "/api/v1/models/",
        {
            "name": "Growth",
            "risk_level": 8,
            "targets": [{"symbol": "AAPL", "weight": "0.7"}, {"symbol": "VXUS", "weight": "0.25"}],
            "cash_weight": "0.05",
        },
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["targets"] == [{"symbol": "AAPL", "weight": "0.7"}, {"symbol": "VXUS", "weight": "0.25"}]
    assert body["cash_weight"] == "0.05"
    assert ModelPortfolio.history.filter(id=body["id"]).first().history_user == alice.user


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"targets": [{"symbol": "AAPL", "weight": "0.5"}]}, "targets"),  # sums to 50%
        ({"targets": [{"symbol": "AAPL", "weight": "0.5"}, {"symbol": "AAPL", "weight": "0.5"}]}, "targets"),
        ({"targets": [{"symbol": "NOPE", "weight": "1"}]}, "targets"),
        ({"targets": [{"symbol": "AAPL", "weight": 1.0}]}, "targets"),
        ({"targets": [{"symbol": "AAPL", "weight": "1"}], "risk_level": 11}, "risk_level"),
        ({"targets": [{"symbol": "AAPL", "weight": "0"}, {"symbol": "BND", "weight": "1"}]}, "targets"),
    ],
)
def test_a_bad_model_is_refused_and_nothing_written(api, alice, securities, payload, field):
    data = {"name": "Bad", "risk_level": 5, **payload}
    answer = api(alice.user).post("/api/v1/models/", data, format="json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert not ModelPortfolio.objects.filter(name="Bad").exists()


def test_models_are_per_firm(api, alice, model_60_40):
    stranger = AdvisorFactory()
    assert api(stranger.user).get(f"/api/v1/models/{model_60_40.pk}/").status_code == 404
    assert api(stranger.user).get("/api/v1/models/").json()["results"] == []
    assert api(alice.user).get(f"/api/v1/models/{model_60_40.pk}/").json()["name"] == "Balanced 60/40"


def test_an_advisor_replaces_a_models_targets(api, alice, model_60_40):
    answer = api(alice.user).put(
        f"/api/v1/models/{model_60_40.pk}/",
        {
            "name": "Balanced 50/50",
            "risk_level": 4,
            "targets": [{"symbol": "AAPL", "weight": "0.5"}, {"symbol": "BND", "weight": "0.5"}],
        },
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["name"] == "Balanced 50/50"
    assert {t["symbol"]: t["weight"] for t in answer.json()["targets"]} == {"AAPL": "0.5", "BND": "0.5"}


def test_an_investor_or_officer_may_not_write_models(api, charlie, officer, model_60_40):
    body = {"name": "X", "risk_level": 5, "targets": [{"symbol": "AAPL", "weight": "1"}]}
    assert api(officer).post("/api/v1/models/", body).status_code == 403
    assert api(officer).put(f"/api/v1/models/{model_60_40.pk}/", body).status_code == 403
    assert api(charlie).post("/api/v1/models/", body).status_code == 403


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_models_keep_a_fixed_query_count(api, alice, securities):
    client = api(alice.user, "read")
    for i in range(10):
        services.model_portfolio_create(
            firm=alice.firm, name=f"M{i}", risk_level=5, targets={"AAPL": "0.5", "BND": "0.5"}, acting_user=alice.user
        )
    small = count_queries(client, "/api/v1/models/", {"page_size": 500})
    for i in range(10, 60):
        services.model_portfolio_create(
            firm=alice.firm, name=f"M{i}", risk_level=5, targets={"AAPL": "0.5", "VXUS": "0.5"}, acting_user=alice.user
        )
    assert count_queries(client, "/api/v1/models/", {"page_size": 500}) == small


# --- Accounts -----------------------------------------------------------------------------------------


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


# --- Positions, drift, performance ----------------------------------------------------------------------


def test_positions_answer_quantities_weights_and_money(api, charlie, modelled):
    rows = api(charlie, "read").get(f"/api/v1/accounts/{modelled.pk}/positions/").json()
    aapl = next(r for r in rows if r["symbol"] == "AAPL")
    assert aapl["quantity"] == "10"
    assert aapl["price"] == "150"
    assert aapl["market_value"] == {"amount": "1500.00", "currency": "USD"}
    assert aapl["weight"] == "0.157895"
    assert aapl["cost_basis"] == {"amount": "1120.00", "currency": "USD"}


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_positions_keep_a_fixed_query_count(api, alice, modelled, securities):
    client = api(alice.user, "read")
    before = count_queries(client, f"/api/v1/accounts/{modelled.pk}/positions/")
    services.transfer_in(
        account=modelled,
        positions=[{"symbol": "VXUS", "quantity": Decimal("2"), "cost_basis": Decimal("100")}],
        acting_user=alice.user,
        idempotency_key="more",
    )
    assert count_queries(client, f"/api/v1/accounts/{modelled.pk}/positions/") == before


def test_drift_per_holding_with_cash(api, alice, modelled):
    body = api(alice.user, "read").get(f"/api/v1/accounts/{modelled.pk}/drift/").json()
    assert body["needs_rebalance"] is True
    assert body["threshold"] == "0.05"
    assert body["max_drift"] == "0.442105"
    rows = {r["symbol"]: r for r in body["holdings"]}
    assert set(rows) == {"AAPL", "BND", "CASH"}
    assert rows["AAPL"] == {
        "symbol": "AAPL", "target_weight": "0.6", "actual_weight": "0.157895", "drift": "-0.442105",
        "band": "0.05", "breached": True,
    }  # fmt: skip
    assert rows["CASH"]["target_weight"] == "0"


def test_drift_without_a_model_says_so(api, alice, funded):
    body = api(alice.user, "read").get(f"/api/v1/accounts/{funded.pk}/drift/").json()
    assert body["max_drift"] is None and body["needs_rebalance"] is False and body["holdings"] == []


def test_performance_links_daily_returns_against_the_benchmark(api, alice, modelled, securities):
    spy = Security.objects.create(symbol="SPY")
    d0, d1, d2 = (date.today() - timedelta(days=n) for n in (12, 11, 10))
    for day, close in ((d0, 400), (d1, 404), (d2, 410)):
        PriceFactory(security=spy, date=day, close=Decimal(close))
    for day, aapl in ((d0, 100), (d1, 110), (d2, 121)):
        PriceFactory(security=securities["AAPL"], date=day, close=Decimal(aapl))
        PriceFactory(security=securities["BND"], date=day, close=Decimal(70))
    InvestmentAccount.objects.filter(pk=modelled.pk).update(opened_on=d0 - timedelta(days=30))
    TaxLot.objects.filter(account=modelled)  # the lots stay; valuations come from postings and prices
    for day in (d0, d1, d2):
        services.valuation_snapshot_write(account=modelled, date=day)
    body = (
        api(alice.user, "read")
        .get(f"/api/v1/accounts/{modelled.pk}/performance/", {"start": d0.isoformat(), "end": d2.isoformat()})
        .json()
    )
    # Holdings are posted today, so the snapshots before today hold nothing: value 0, return 0.
    assert body["start"] == d0.isoformat() and body["end"] == d2.isoformat()
    assert body["benchmark"] == "SPY"
    assert body["benchmark_twr"] == "0.025"
    assert [p["date"] for p in body["series"]] == [d0.isoformat(), d1.isoformat(), d2.isoformat()]
    assert all(set(p) == {"date", "value", "twr"} for p in body["series"])
    assert body["annualized_twr"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday"},
        {"start": "2024-02-30"},
        {"end": "2999-01-01"},
        {"start": "2024-05-01", "end": "2024-04-01"},
    ],
)
def test_performance_refuses_bad_dates(api, alice, modelled, params):
    answer = api(alice.user, "read").get(f"/api/v1/accounts/{modelled.pk}/performance/", params)
    assert answer.status_code == 400
    assert set(answer.json()) & {"start", "end"}


# --- Transfers in ---------------------------------------------------------------------------------------


def transfer(client, account, body, key="tr-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/accounts/{account.pk}/transfers-in/", body, format="json", **headers)


TRANSFER = {
    "positions": [
        {
            "symbol": "VXUS",
            "quantity": "12.5",
            "cost_basis": {"amount": "700.00", "currency": "USD"},
            "acquired_on": "2022-06-01",
        }
    ],
    "cash": {"amount": "250.00", "currency": "USD"},
}


def test_a_transfer_in_moves_positions_and_cash_once(api, alice, modelled):
    client = api(alice.user)
    first = transfer(client, modelled, TRANSFER)
    assert first.status_code == 201, first.json()
    again = transfer(client, modelled, TRANSFER)
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    lot = TaxLot.objects.get(account=modelled, security__symbol="VXUS")
    assert (lot.quantity, lot.cost_per_share, lot.acquired_on) == (Decimal("12.5"), Decimal("56"), date(2022, 6, 1))
    body = client.get(f"/api/v1/accounts/{modelled.pk}/").json()
    assert body["cash"] == {"amount": "1250.00", "currency": "USD"}


def test_a_transfer_in_needs_an_idempotency_key(api, alice, modelled):
    answer = transfer(api(alice.user), modelled, TRANSFER, key=None)
    assert answer.status_code == 400 and "Idempotency-Key" in answer.json()["detail"]


def test_the_same_key_with_another_transfer_is_refused(api, alice, modelled):
    client = api(alice.user)
    transfer(client, modelled, TRANSFER)
    answer = transfer(client, modelled, {"cash": {"amount": "1.00", "currency": "USD"}})
    assert answer.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"positions": [{"symbol": "VXUS", "quantity": "0", "cost_basis": {"amount": "1", "currency": "USD"}}]},
            "positions",
        ),
        (
            {"positions": [{"symbol": "VXUS", "quantity": "-2", "cost_basis": {"amount": "1", "currency": "USD"}}]},
            "positions",
        ),
        (
            {"positions": [{"symbol": "NOPE", "quantity": "2", "cost_basis": {"amount": "1", "currency": "USD"}}]},
            "positions",
        ),
        ({"positions": [{"symbol": "VXUS", "quantity": "2", "cost_basis": "100"}]}, "positions"),
        (
            {
                "positions": [
                    {
                        "symbol": "VXUS",
                        "quantity": "2",
                        "cost_basis": {"amount": "1", "currency": "USD"},
                        "acquired_on": "2999-01-01",
                    }
                ]
            },
            "positions",
        ),
        ({"cash": {"amount": "10.001", "currency": "USD"}}, "cash"),
        ({"cash": {"amount": "10", "currency": "EUR"}}, "cash"),
        ({"cash": {"amount": "1e3", "currency": "USD"}}, "cash"),
        ({}, "non_field_errors"),
    ],
)
def test_a_bad_transfer_is_refused_and_nothing_moves(api, alice, modelled, body, field):
    before = (TaxLot.objects.count(), api(alice.user).get(f"/api/v1/accounts/{modelled.pk}/").json()["cash"])
    answer = transfer(api(alice.user), modelled, body)
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()
    assert (TaxLot.objects.count(), api(alice.user).get(f"/api/v1/accounts/{modelled.pk}/").json()["cash"]) == before


def test_only_the_advisor_transfers_in(api, bob, charlie, modelled):
    assert transfer(api(charlie), modelled, TRANSFER).status_code == 403
    assert transfer(api(bob.user), modelled, TRANSFER).status_code == 404
    assert transfer(api(modelled.household.advisor.user, "read"), modelled, TRANSFER).status_code == 403


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
