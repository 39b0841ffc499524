"""In a real browser (issue 13): the demo advisor rebalances a fully invested, drifted account —
its buy can only be paid for by its own sell — approves it with the firm's real pre-trade
checks on, and watches every order fill (sandbox custodian, webhooks back to the live server)
and the account come back inside its bands."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from compliance.pretrade import run_pretrade_checks
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory
from tests.browser.test_trading import custodian, trading_settings  # noqa: F401 -- fixtures
from tests.trading.factories import account_with, make_security, model_of
from trading.checks import PRETRADE_CHECKS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def invested_book(roles, trading_settings, override_checks):  # noqa: F811 -- the fixture imported above
    from compliance.models import ComplianceSettings
    from tests.compliance.factories import kyc, profile

    override_checks(PRETRADE_CHECKS, run_pretrade_checks)
    for symbol, price in (("VTI", "200"), ("BND", "70")):
        make_security(symbol, price)
    advisor = AdvisorFactory(user__email="advisor@demo.kronos", user__full_name="Alex Morgan")
    ComplianceSettings.objects.create(firm=advisor.firm, concentration_limit=Decimal("0.7"))
    model = model_of(advisor.firm, {"VTI": "0.6", "BND": "0.4"})
    household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name="Okafor Household")
    investor = InvestorFactory(firm=advisor.firm, households=[household])
    kyc(investor)
    profile(investor, 7)
    # $10 of cash and $10,000 of VTI: fully invested, 40 points off its 60/40 model.
    account = account_with(household, cash="10.00", positions=[("VTI", "50", "150")], model=model, name="Okafor Joint")
    return advisor, account


def _rebalance_from_the_book(page, account):
    page.goto("/book/")
    box = page.locator(f"input[name=account][value='{account.pk}']")
    box.check()
    page.wait_for_timeout(500)
    expect(box).to_be_checked()
    page.click("#rebalance-selection button[type=submit]")
    expect(page.locator("#bulk-proposals")).to_contain_text("Okafor Joint")
    page.click(f"#bulk-proposals tr[data-account='{account.pk}'] a:has-text('Review')")


def test_a_fully_invested_account_rebalances_completely_in_the_browser(login, invested_book, custodian):  # noqa: F811
    from portfolios import ledger
    from trading.models import Order

    advisor, account = invested_book
    page = login(advisor.user)
    _rebalance_from_the_book(page, account)
    trades = page.locator("#proposal-trades")
    expect(trades).to_contain_text("VTI")
    expect(trades).to_contain_text("BND")
    page.click("button[data-action=approve]")
    expect(page.locator("#proposal-status")).to_have_text("Approved")
    message = page.locator(".messages")
    expect(message).to_contain_text("Approved: 1 order placed, 1 buy waiting for the sells to fill.")
    expect(message).not_to_contain_text("rejected")

    orders = list(Order.objects.filter(account=account))
    assert len(orders) == 2
    for order in orders:
        expect(page.locator(f"#proposal-orders tr[data-order='{order.pk}'] .badge")).to_have_text(
            re.compile("^filled$", re.I), timeout=20_000
        )
    assert {o.status for o in Order.objects.filter(account=account)} == {"filled"}

    # Rebalancing again finds nothing to do: every holding is inside its band.
    _rebalance_from_the_book(page, account)
    expect(page.locator("#not-needed")).to_contain_text("Every holding is inside its band")
    assert ledger.verify() == []
