"""In headless Chromium: the investor signs in and lands on their accounts and total value."""

import pytest
from playwright.sync_api import expect

from tests.trading.factories import account_with, make_security

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_investor_lands_on_their_accounts_and_total_value(login, charlie, alice_household, roles):
    make_security("VTI", "200")
    brokerage = account_with(alice_household, cash="1234.56", positions=[("VTI", "10", "150")], name="Joint brokerage")
    account_with(alice_household, cash="500.00", name="Roth IRA")

    page = login(charlie)
    assert page.url.endswith("/my/accounts/")  # where signing in sent them
    expect(page.locator("h1")).to_have_text("My accounts")
    expect(page.locator("#total-value")).to_have_text("$3,734.56")
    rows = page.locator("#my-accounts tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator(f"tr[data-account='{brokerage.pk}']")).to_contain_text("$3,234.56")
    page.click("text=Joint brokerage")
    page.wait_for_url(f"**/accounts/{brokerage.pk}/")
    expect(page.locator("#kpi-value")).to_have_text("$3,234.56")
