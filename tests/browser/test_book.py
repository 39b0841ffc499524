"""In a real browser: the advisor's book, sorting by drift, and an account page's charts."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portfolios import services
from portfolios.checks import MODEL_ASSIGN_CHECKS
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory, UserFactory
from tests.portfolios.factories import PriceFactory, SecurityFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_book(settings, roles, override_checks):
    """A demo-like advisor with three clients: one on target, one drifted, one all cash."""
    override_checks(MODEL_ASSIGN_CHECKS)
    advisor = AdvisorFactory(user__email="advisor@demo.kronos", user__full_name="Alex Morgan")
    today = date.today()
    for symbol, close in (("VTI", "250"), ("BND", "70"), ("SPY", "500")):
        security = SecurityFactory(symbol=symbol)
        for offset in range(0, 40, 10):
            PriceFactory(security=security, date=today - timedelta(days=offset), close=Decimal(close) - offset)
    model = services.model_portfolio_create(
        firm=advisor.firm, name="Balanced 60/40", risk_level=5, targets={"VTI": "0.6", "BND": "0.4"},
        acting_user=advisor.user,
    )  # fmt: skip
    accounts = {}
    for name, positions, cash in (
        ("Chen", [("VTI", "24"), ("BND", "57")], "10"),  # about 60/40
        ("Okafor", [("VTI", "40")], "0"),  # all equity: drifted
        ("Patel", [], "5000"),  # all cash: the most drifted
    ):
        household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name=f"{name} Household")
        InvestorFactory(firm=advisor.firm, households=[household])
        account = services.account_create(
            household=household, name=f"{name} Brokerage", custodian_account_number=f"DEMO-{name}",
            acting_user=advisor.user, model=model, opened_on=today - timedelta(days=35),
        )  # fmt: skip
        services.transfer_in(
            account=account,
            positions=[{"symbol": s, "quantity": Decimal(q), "cost_basis": Decimal(q) * 50} for s, q in positions],
            cash=Decimal(cash) or None,
            acting_user=advisor.user,
            idempotency_key=f"demo-{name}",
            effective_date=today - timedelta(days=35),
        )
        for offset in range(30, -1, -10):
            services.valuation_snapshot_write(account=account, date=today - timedelta(days=offset))
        accounts[name] = account
    return advisor, accounts


def test_the_advisor_sorts_the_book_by_drift_and_opens_an_account_with_both_charts(login, demo_book):
    advisor, accounts = demo_book
    page = login(advisor.user)
    page.goto("/book/")
    rows = page.locator("#book-table tbody tr")
    assert rows.count() == 3
    assert "Chen Household" in rows.nth(0).inner_text()  # by household first

    page.click("a[data-sort=drift]")  # htmx swaps the table and pushes the URL
    page.wait_for_url("**/book/?sort=drift&dir=desc")
    assert "Patel Brokerage" in page.locator("#book-table tbody tr").nth(0).inner_text()
    assert "Chen Brokerage" in page.locator("#book-table tbody tr").nth(2).inner_text()
    assert page.locator("#book-table .badge-breach").count() == 2
    assert page.locator("h1").inner_text() == "Book"  # the page itself was not reloaded

    page.click("text=Okafor Brokerage")
    page.wait_for_url(f"**/accounts/{accounts['Okafor'].pk}/")
    allocation = page.locator("#allocation-chart-wrap svg")
    value = page.locator("#value-chart-wrap svg")
    assert allocation.is_visible() and value.is_visible()
    assert allocation.locator("rect.bar").count() == 6  # VTI, BND, CASH x actual, target
    assert value.locator("polyline").count() == 2  # the account and the benchmark
    box = value.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert "VTI" in page.locator("#holdings").inner_text()


def test_an_advisor_opens_a_household_page_with_its_sections(login, demo_book):
    advisor, accounts = demo_book
    household = accounts["Chen"].household
    page = login(advisor.user)
    page.goto("/households/")
    assert household.name in page.inner_text("body"), page.content()[:3000]
    page.click(f"text={household.name}")
    page.wait_for_url(f"**/households/{household.pk}/")
    assert page.locator("h1").inner_text().startswith(household.name)
    assert "Alex Morgan" in page.inner_text("body")
    # The accounts section loads itself with htmx.
    page.wait_for_selector("#household-accounts-section #household-accounts")
    assert "Chen Brokerage" in page.locator("#household-accounts").inner_text()


def test_an_investor_signs_in_without_a_second_factor_and_sees_the_household(login, demo_book):
    advisor, accounts = demo_book
    household = accounts["Patel"].household
    user = UserFactory(email="patel@example.com", roles=["investor"])
    InvestorFactory(user=user, firm=advisor.firm, households=[household])
    page = login(user)
    page.goto(f"/households/{household.pk}/")
    page.wait_for_selector("#household-accounts")
    page.click("text=Patel Brokerage")
    page.wait_for_url(f"**/accounts/{accounts['Patel'].pk}/")
    assert page.locator("#allocation-chart-wrap svg").is_visible()
