"""In a real browser: the household page's accounts section brings the household's performance
against its model's blended benchmark, and the account page shows the same columns."""

import pytest

from accounts.services import system_user
from portfolios import services
from tests.browser.test_book import demo_book  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_advisor_sees_household_and_account_performance_against_the_blend(login, demo_book):  # noqa: F811
    advisor, accounts = demo_book
    blend = services.benchmark_create(
        firm=advisor.firm, name="60/40", components=[("SPY", "0.6"), ("BND", "0.4")], acting_user=system_user()
    )
    services.benchmark_assign(benchmark=blend, model=accounts["Chen"].model, acting_user=system_user())
    page = login(advisor.user)
    page.goto(f"/households/{accounts['Chen'].household_id}/")
    section = page.locator("#household-accounts")
    section.locator("#performance").wait_for()  # loaded by htmx into the household page
    text = section.inner_text()
    assert "Household performance" in text
    assert "60% SPY / 40% BND" in text
    assert "Money-weighted" in text and "Gross of fees" in text
    assert section.locator("#performance tbody tr").count() == 5  # 1M, 3M, YTD, 1Y, since inception
    page.click("text=Chen Brokerage")
    page.wait_for_url(f"**/accounts/{accounts['Chen'].pk}/")
    table = page.locator("#performance")
    assert "60% SPY / 40% BND" in table.inner_text()
    assert table.locator("tbody tr").count() == 5
