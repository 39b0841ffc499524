"""The demo seed in a database that also holds other firms' books."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.services import system_user
from demo import portfolios as demo
from portfolios.models import Price, ValuationSnapshot
from tests.accounts.factories import HouseholdFactory
from tests.trading.factories import account_with, make_security


@pytest.mark.django_db
def test_the_demo_valuations_value_the_demo_firm_only(alice_household):
    today = date.today()
    demo_household = HouseholdFactory()  # a firm of its own, standing in for the demo firm
    make_security("AAPL", "150")
    make_security("MSFT", "100")
    ours = account_with(demo_household, cash="100.00", positions=[("AAPL", "2", "100")])
    theirs = account_with(alice_household, cash="50.00", positions=[("MSFT", "1", "90")])
    Price.objects.filter(security__symbol="MSFT", date=today).delete()  # another firm's book, priced otherwise

    demo._write_valuations([today], firm=demo_household.firm, user=system_user())

    snapshot = ValuationSnapshot.objects.get(account=ours, date=today)
    assert (snapshot.market_value, snapshot.cash) == (Decimal("300.00"), Decimal("100.00"))
    assert not ValuationSnapshot.objects.filter(account=theirs).exists()
