"""Calendar rebalancing (issue 13): an account set to monthly or quarterly is brought to
target on the first business day of its period whatever its drift; on other days the
threshold alone decides. Through the nightly job's and the button's path (the snapshot
readers, the engine, the proposal services) and the settings' API field."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.services import system_user
from portfolios.engine import calendar_due
from portfolios.models import InvestmentAccount, Price
from tests.trading.factories import account_with, model_of
from trading import services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("schedule", "day", "due"),
    [
        ("monthly", date(2026, 11, 30), False),  # the last day of November
        ("monthly", date(2026, 12, 1), True),  # Tuesday, the first business day of December
        ("monthly", date(2026, 12, 2), False),
        ("monthly", date(2026, 8, 1), False),  # a Saturday
        ("monthly", date(2026, 8, 3), True),  # Monday, August's first business day
        ("quarterly", date(2026, 12, 1), False),
        ("quarterly", date(2026, 9, 30), False),
        ("quarterly", date(2026, 10, 1), True),
        ("quarterly", date(2027, 1, 1), True),  # a Friday (no holiday calendar in the engine)
        ("threshold", date(2026, 12, 1), False),
    ],
)
def test_calendar_due_on_the_first_business_day_of_the_period(schedule, day, due):
    assert calendar_due(schedule, day) is due


@pytest.fixture
def slightly_drifted(alice_household, securities):
    """60/40 VTI/BND held 62/38 ($10,000): 2 points off, inside the 5-point band, priced on the
    days the tests plan for (the factories price only today and three days ago)."""
    for day in (date(2026, 11, 30), date(2026, 12, 1)):
        for symbol, close in (("VTI", "200"), ("BND", "70")):
            Price.objects.update_or_create(security=securities[symbol], date=day, defaults={"close": Decimal(close)})
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    account = account_with(
        alice_household, cash="0.00", positions=[("VTI", "31", "150"), ("BND", "54.2857", "60")], model=model
    )
    InvestmentAccount.objects.filter(pk=account.pk).update(rebalance_schedule="monthly")
    return account


@pytest.mark.parametrize("scheduled", [True, False], ids=["nightly", "button"])
def test_a_monthly_account_is_not_rebalanced_on_the_last_day_of_the_month(slightly_drifted, scheduled):
    (proposal,) = services.proposal_create_for_accounts(
        account_ids=[slightly_drifted.pk], acting_user=system_user(), as_of=date(2026, 11, 30), scheduled=scheduled
    )
    assert not proposal.needed
    assert proposal.max_drift_before < Decimal("0.05")


@pytest.mark.parametrize("scheduled", [True, False], ids=["nightly", "button"])
def test_a_monthly_account_is_rebalanced_to_target_on_the_first_business_day(slightly_drifted, scheduled):
    (proposal,) = services.proposal_create_for_accounts(
        account_ids=[slightly_drifted.pk], acting_user=system_user(), as_of=date(2026, 12, 1), scheduled=scheduled
    )
    assert proposal.needed
    # $6,200 of VTI against $6,000: sell 1 ($200) and buy 2 BND ($140) with it.
    assert [(t.side, t.symbol, t.quantity) for t in proposal.trade_list] == [
        ("sell", "VTI", Decimal("1")),
        ("buy", "BND", Decimal("2")),
    ]


def test_the_schedule_is_an_account_setting_validated_by_the_service(alice, alice_household):
    from portfolios import services as portfolio_services
    from portfolios.errors import PortfoliosError

    account = account_with(alice_household, cash="10.00")

    portfolio_services.account_update(account=account, acting_user=alice.user, rebalance_schedule="quarterly")
    account.refresh_from_db()
    assert account.rebalance_schedule == "quarterly"

    with pytest.raises(PortfoliosError) as exc:
        portfolio_services.account_update(account=account, acting_user=alice.user, rebalance_schedule="weekly")
    assert exc.value.field == "rebalance_schedule"
