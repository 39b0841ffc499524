"""Operations' admin for models and accounts keeps the rules the services keep."""

from decimal import Decimal

import pytest

from portfolios.models import ModelPortfolio
from tests.accounts.factories import UserFactory
from tests.portfolios.factories import ModelPortfolioFactory, ModelTargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(verified_client, alice):
    ops = UserFactory(email="ops@example.com", roles=["operations"], is_staff=True, is_superuser=True, firm=alice.firm)
    return verified_client(ops), ops


def _form(model, securities, weights):
    data = {
        "firm": model.firm_id,
        "name": model.name,
        "risk_level": model.risk_level,
        "cash_target": "0",
        "is_active": "on",
        "description": "",
        "targets-TOTAL_FORMS": str(len(weights)),
        "targets-INITIAL_FORMS": "0",
        "targets-MIN_NUM_FORMS": "0",
        "targets-MAX_NUM_FORMS": "1000",
    }
    for i, (symbol, weight) in enumerate(weights):
        data[f"targets-{i}-security"] = securities[symbol].pk
        data[f"targets-{i}-weight"] = weight
    return data


def test_the_admin_refuses_model_weights_that_do_not_sum_to_100(ops_client, alice, securities):
    client, _ = ops_client
    model = ModelPortfolioFactory(firm=alice.firm, name="Balanced")
    url = f"/admin/portfolios/modelportfolio/{model.pk}/change/"
    page = client.post(url, _form(model, securities, [("AAPL", "0.6"), ("BND", "0.35")]))
    assert page.status_code == 200
    assert "Target weights sum to 95.00%; they must sum to exactly 100%." in page.text
    assert not model.targets.exists()


def test_the_admin_saves_weights_that_sum_to_100_with_history(ops_client, alice, securities):
    client, ops = ops_client
    model = ModelPortfolioFactory(firm=alice.firm, name="Balanced")
    page = client.post(
        f"/admin/portfolios/modelportfolio/{model.pk}/change/",
        _form(model, securities, [("AAPL", "0.6"), ("BND", "0.4")]),
    )
    assert page.status_code == 302
    assert sorted((t.security.symbol, t.weight) for t in model.targets.all()) == [
        ("AAPL", Decimal("0.6")),
        ("BND", Decimal("0.4")),
    ]
    assert ModelPortfolio.history.filter(id=model.pk).latest("history_date").history_user == ops


def test_targets_are_not_edited_one_by_one_and_models_are_not_deleted(ops_client, alice, securities):
    client, _ = ops_client
    target = ModelTargetFactory(model=ModelPortfolioFactory(firm=alice.firm), security=securities["AAPL"])
    page = client.post(f"/admin/portfolios/modeltarget/{target.pk}/change/", {"weight": "0.5"})
    assert page.status_code == 403
    assert client.get(f"/admin/portfolios/modelportfolio/{target.model_id}/delete/").status_code == 403
