"""Fixtures of the portfolios tests: a priced security universe and a funded account."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portfolios import services
from portfolios.checks import MODEL_ASSIGN_CHECKS
from tests.accounts.factories import UserFactory
from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory, SecurityFactory


@pytest.fixture
def securities(db):
    """AAPL at 150, BND at 70, VXUS at 60 (today and yesterday)."""
    out = {}
    for symbol, close, asset_class in [
        ("AAPL", "150", "us_equity"),
        ("BND", "70", "bonds"),
        ("VXUS", "60", "intl_equity"),
    ]:
        security = SecurityFactory(symbol=symbol, asset_class=asset_class)
        PriceFactory(security=security, date=date.today() - timedelta(days=1), close=Decimal(close) - 1)
        PriceFactory(security=security, date=date.today(), close=Decimal(close))
        out[symbol] = security
    return out


@pytest.fixture
def account(alice_household):
    return InvestmentAccountFactory(household=alice_household, custodian_account_number="KR-0001")


@pytest.fixture
def funded(account, securities, alice):
    """The account with 10 AAPL (two lots), 100 BND and $1,000.00 cash, transferred in."""
    services.transfer_in(
        account=account,
        positions=[
            {"symbol": "AAPL", "quantity": Decimal("4"), "cost_basis": Decimal("400"), "acquired_on": date(2020, 1, 2)},
            {"symbol": "AAPL", "quantity": Decimal("6"), "cost_basis": Decimal("720"), "acquired_on": date(2021, 1, 4)},
            {
                "symbol": "BND",
                "quantity": Decimal("100"),
                "cost_basis": Decimal("7500"),
                "acquired_on": date(2021, 3, 1),
            },
        ],
        cash=Decimal("1000.00"),
        acting_user=alice.user,
        idempotency_key="fund-KR-0001",
    )
    return account


# --- The API tests' users and model (tests/portfolios/test_api_*.py) -------------------------------


@pytest.fixture
def no_suitability_hook(override_checks):
    """The API tests use it: compliance tests its own model-assignment hook."""
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
