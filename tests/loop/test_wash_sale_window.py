"""The wash-sale window through the paths the nightly job and the rebalance button take: a
security sold at a loss exactly 30 days ago is not bought back (the engine blocks days 0-30);
one sold 31 days ago is. Both snapshot readers — PostgreSQL's raw queries and the ORM one
(SQLite, `make run`) — are run."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import system_user
from portfolios import services as portfolio_services
from portfolios.selectors import snapshots as selectors
from tests.trading.factories import account_with, model_of
from trading import services

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["pg", "orm"])
def snapshot_path(request, monkeypatch):
    if request.param == "orm":
        monkeypatch.setattr(selectors, "_engine_snapshots_pg", selectors._engine_snapshots_orm)
    return request.param


def _sold_at_a_loss(alice_household, securities, days_ago: int):
    model = model_of(alice_household.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="10000.00", positions=[("AAPL", "2", "200")], model=model)
    portfolio_services.lots_relieve(
        account=account,
        security=securities["AAPL"],
        quantity=Decimal("1"),
        price=Decimal("150"),  # bought at 200: a loss of 50
        closed_on=timezone.localdate() - timedelta(days=days_ago),
        acting_user=system_user(),
    )
    return account


@pytest.mark.parametrize("scheduled", [True, False], ids=["nightly", "button"])
def test_a_loss_sale_30_days_ago_still_blocks_the_repurchase(alice_household, securities, snapshot_path, scheduled):
    account = _sold_at_a_loss(alice_household, securities, 30)
    (proposal,) = services.proposal_create_for_accounts(
        account_ids=[account.pk], acting_user=system_user(), scheduled=scheduled
    )
    assert [(t.side, t.symbol) for t in proposal.trade_list] == [("buy", "BND")]
    assert any("AAPL was sold at a loss" in note and "wash sale" in note for note in proposal.notes)


@pytest.mark.parametrize("scheduled", [True, False], ids=["nightly", "button"])
def test_a_loss_sale_31_days_ago_no_longer_does(alice_household, securities, snapshot_path, scheduled):
    account = _sold_at_a_loss(alice_household, securities, 31)
    (proposal,) = services.proposal_create_for_accounts(
        account_ids=[account.pk], acting_user=system_user(), scheduled=scheduled
    )
    assert {(t.side, t.symbol) for t in proposal.trade_list} == {("buy", "AAPL"), ("buy", "BND")}
    assert not any("wash sale" in note for note in proposal.notes)
