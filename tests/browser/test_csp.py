"""Pages work under the strict Content-Security-Policy: no violation reaches the console while
logging in, opening the households list and a household, searching with htmx, and seeing the
pages other engineers add to an advisor's day (book, household accounts)."""

import pytest

from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_errors(page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return errors


def csp_violations(errors):
    return [e for e in errors if "Content Security Policy" in e or "Refused to" in e or "page error" in e]


def test_login_households_and_htmx_search_raise_no_csp_violation(page, login, console_errors, roles):
    advisor = AdvisorFactory(user__email="casey@example.com", user__full_name="Casey Advisor")
    for name in ("Alvarez Household", "Bennett Household", "Chen Household"):
        household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name=name)
        InvestorFactory(firm=advisor.firm, households=[household])

    page.goto("/accounts/login/")
    assert page.locator("input[name=username]").is_visible()
    login(advisor.user)

    page.goto("/households/")
    assert page.get_by_text("Bennett Household").is_visible()

    page.fill("input[name=q]", "Chen")
    page.wait_for_function("() => !document.body.innerText.includes('Bennett Household')")
    assert page.get_by_text("Chen Household").is_visible()
    assert "q=Chen" in page.url  # hx-push-url ran: htmx works under the policy

    page.get_by_text("Chen Household").click()
    page.wait_for_load_state()
    assert "/households/" in page.url

    assert csp_violations(console_errors) == [], console_errors


def test_the_stylesheet_applies_under_the_policy(page, login, console_errors, roles):
    advisor = AdvisorFactory(user__email="dana@example.com")
    login(advisor.user)
    page.goto("/households/")
    # kronos.css styles the top bar; a blocked stylesheet would leave it unstyled.
    display = page.evaluate("() => getComputedStyle(document.querySelector('.topbar')).display")
    assert display != "inline"
    assert csp_violations(console_errors) == [], console_errors
