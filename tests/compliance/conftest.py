from decimal import Decimal

import pytest

from accounts.models import Investor
from tests.compliance import factories as cf
from tests.portfolios.factories import InvestmentAccountFactory, ModelPortfolioFactory, PriceFactory, SecurityFactory


@pytest.fixture
def owner(charlie):
    return Investor.objects.get(user=charlie)


@pytest.fixture
def security(db):
    sec = SecurityFactory(symbol="VTI")
    PriceFactory(security=sec, close=Decimal("100.00"))
    return sec


@pytest.fixture
def account(alice_household, owner, security):
    """An account of alice's household, owner KYC-approved with risk level 7, a level-5 model,
    10,000 cash and 50 VTI (5,000)."""
    model = ModelPortfolioFactory(firm=alice_household.firm, risk_level=5, name="Balanced")
    acct = InvestmentAccountFactory(household=alice_household, model=model)
    cf.kyc(owner)
    cf.profile(owner, 7)
    cf.hold(acct, cash=Decimal("10000.00"), positions={security: Decimal("50")})
    return acct
