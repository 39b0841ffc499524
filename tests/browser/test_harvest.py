"""In a real browser (issue 17): the advisor harvests a household's losses, approves the proposal,
watches the orders fill (sandbox custodian, webhooks back to the live server) and sees the
realised loss and the substitute holding."""

import re

import pytest
from playwright.sync_api import expect

from portfolios.models import Security, SubstitutionPair
from tests.accounts.factories import AdvisorFactory, HouseholdFactory
from tests.browser.test_trading import custodian, trading_settings  # noqa: F401 -- fixtures
from tests.trading.factories import account_with, make_security, model_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def household_at_a_loss(roles, trading_settings):  # noqa: F811 -- the fixture imported above
    for symbol, price in (("VTI", "200"), ("BND", "70"), ("SCHB", "48.70")):
        make_security(symbol, price)
    advisor = AdvisorFactory(user__email="advisor@demo.kronos", user__full_name="Alex Morgan")
    model = model_of(advisor.firm, {"VTI": "0.6", "BND": "0.4"})
    SubstitutionPair.objects.create(
        model=model, security=Security.objects.get(symbol="VTI"), substitute=Security.objects.get(symbol="SCHB")
    )
    household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name="Okafor Household")
    account = account_with(
        household,
        cash="30.00",
        positions=[("VTI", "300", "250"), ("BND", "571", "69")],
        model=model,
        name="Okafor Joint",
    )
    return advisor, household, account


def test_the_advisor_harvests_approves_and_sees_the_loss_and_the_substitute(login, household_at_a_loss, custodian):  # noqa: F811
    from trading.models import Order

    advisor, household, account = household_at_a_loss
    page = login(advisor.user)
    page.goto(f"/households/{household.pk}/")
    page.click("#household-tax-link")
    page.click("#harvest-now")
    expect(page.locator(".messages")).to_contain_text("1 loss to harvest")
    row = page.locator("#harvest-proposals tbody tr").first
    expect(row).to_contain_text("Okafor Joint")
    expect(row).to_contain_text("15,000.00")
    row.locator("a:has-text('Review')").click()
    trades = page.locator("#proposal-trades")
    expect(trades).to_contain_text("VTI")
    expect(trades).to_contain_text("SCHB")
    page.click("button[data-action=approve]")
    expect(page.locator("#proposal-status")).to_have_text("Approved")
    for order in Order.objects.filter(account=account):
        expect(page.locator(f"#proposal-orders tr[data-order='{order.pk}'] .badge")).to_have_text(
            re.compile("^filled$", re.I), timeout=20_000
        )
    page.goto(f"/households/{household.pk}/tax/")
    losses = page.locator("#harvested-losses tbody tr").first
    expect(losses).to_contain_text("Okafor Joint")
    expect(losses).to_contain_text("15,000.00")
    page.goto(f"/accounts/{account.pk}/")
    expect(page.locator("body")).to_contain_text("SCHB")
