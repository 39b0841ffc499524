"""The portfolios API, model portfolios: per-firm, per-role writes, refusals, fixed query counts."""

import pytest

from portfolios import services
from portfolios.models import ModelPortfolio
from tests.accounts.factories import AdvisorFactory
from tests.portfolios.api_helpers import count_queries

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_suitability_hook")]


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
