"""Fixtures of the portfolios tests: a priced security universe and a funded account."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portfolios import services
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
