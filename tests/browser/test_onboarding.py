"""In a real browser: the demo advisor onboards a new household — two investors and a joint
account — from an empty form until the custodian has opened the account; each investor
follows their invitation, reviews their data and signs the three documents; one of them then
funds the account.

The KYC sandbox posts its signed results to the live server, the sandbox custodian answers
the account opening with a signed webhook to the live server, and AML screens against the
(empty) watch list, all for real; nothing in the test hands the page its result — the
household page polls every 2 s and shows "account opened" by itself.
"""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from onboarding.models import REQUIRED_KINDS, AgreementTemplate, Signature
from portfolios.models import InvestmentAccount
from tests.accounts.factories import PASSWORD, AdvisorFactory
from trading.models import CashTransfer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "browser-onboarding-secret"


@pytest.fixture
def sandboxes(live_server, settings):
    from compliance.adapters.kyc_sandbox import start_in_thread
    from trading.adapters.custodian.sandbox import SandboxCustodian

    settings.CUSTODIAN_WEBHOOK_SECRET = SECRET
    settings.CUSTODIAN_RETRIES = 0
    settings.TRADING_RELAY_ON_COMMIT = False
    custodian = SandboxCustodian(secret=SECRET, webhook_url=f"{live_server.url}/webhooks/custodian/", seed=5)
    settings.CUSTODIAN_URL = custodian.start()
    # Its result comes 3 s after the start: the onboarding workflow records the start after its
    # run, and a result that overtakes it is ignored (recovered later by the pending-KYC poll).
    kyc = start_in_thread(secret=settings.KYC_WEBHOOK_SECRET, delay=3)
    settings.KYC_URL = kyc.url
    settings.KYC_CALLBACK_URL = f"{live_server.url}/webhooks/kyc/"
    yield
    kyc.shutdown()
    kyc.server_close()
    custodian.stop()


@pytest.fixture
def demo_advisor(roles):
    advisor = AdvisorFactory(user__email="advisor@demo.kronos", user__full_name="Alex Morgan")
    for kind in REQUIRED_KINDS:
        body = f"{kind.replace('_', ' ').title()}.\n\nThe client agrees to the terms of the {kind.replace('_', ' ')}."
        AgreementTemplate.objects.create(
            firm=advisor.firm,
            kind=kind,
            version="2026-01",
            title=kind.replace("_", " ").title(),
            body=body,
            sha256=AgreementTemplate.digest(body),
        )
    return advisor


PEOPLE = [
    {"first_name": "Dana", "last_name": "Whitfield", "email": "dana.whitfield@example.com", "tax_id": "123-45-6789"},
    {"first_name": "Sam", "last_name": "Whitfield", "email": "sam.whitfield@example.com", "tax_id": "987-65-4321"},
]


def add_investor(page, person):
    page.click("text=Add investor")
    fill_investor(page, person)
    page.click("button:has-text('Add investor')")
    expect(page.locator(".msg").first).to_contain_text(f"{person['first_name']} {person['last_name']} added")


def fill_investor(page, person):
    for field, value in {
        **person,
        "date_of_birth": "1980-05-17",
        "phone": "+1 212 555 0100",
        "citizenship": "US",
        "address_line1": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    }.items():
        page.fill(f"#id_{field}", value)
    page.select_option("#id_employment_status", "employed")
    page.select_option("#id_annual_income", "100k_250k")
    page.select_option("#id_net_worth", "500k_1m")
    page.select_option("#id_investment_objective", "growth")


def invitation_path(email):
    message = next(m for m in mail.outbox if m.to == [email])
    return re.search(r"https?://[^/\s]+(/accounts/invitation/\S+/)", message.body).group(1)


def test_the_advisor_onboards_a_household_and_the_investors_sign_and_fund(page, login, demo_advisor, sandboxes):
    login(demo_advisor.user)
    page.goto("/households/")
    page.click("#new-household")
    page.click("button:has-text('Create household')")  # empty form
    expect(page.locator(".error").first).to_contain_text("This field is required")
    page.fill("#id_name", "Whitfield Family")
    page.click("button:has-text('Create household')")
    expect(page.locator("h1")).to_contain_text("Onboarding: Whitfield Family")
    onboarding_url = page.url

    # a taxpayer id in the wrong shape is refused on the form, nothing saved
    page.click("text=Add investor")
    fill_investor(page, {**PEOPLE[0], "tax_id": "12-345"})
    page.click("button:has-text('Add investor')")
    expect(page.locator(".has-error").first).to_be_visible()
    expect(page.locator("text=nine digits")).to_be_visible()
    page.goto(onboarding_url)

    for person in PEOPLE:
        add_investor(page, person)
    page.click("text=Open account")
    page.fill("#id_name", "Joint brokerage")
    page.select_option("#id_account_type", "joint")
    page.locator("input[name=owners]").nth(0).check()
    page.click("button:has-text('Open account')")
    expect(page.locator(".has-error, .errors").first).to_contain_text("at least two owners")
    page.locator("input[name=owners]").nth(1).check()
    page.click("button:has-text('Open account')")
    expect(page.locator(".msg").first).to_contain_text("will be opened at the custodian")

    page.click("#submit-onboarding")
    expect(page.locator(".msg").first).to_contain_text("KYC and AML screening started")
    account_step = page.locator("tr[data-step=account]")
    expect(account_step).to_contain_text("account opened", timeout=30_000)
    expect(page.locator("tr[data-step=kyc][data-status=done]")).to_have_count(2)
    expect(page.locator("tr[data-step=aml][data-status=done]")).to_have_count(2)
    account = InvestmentAccount.objects.get(name="Joint brokerage")
    assert re.fullmatch(r"SBX-\d{8}", account.custodian_account_number)
    expect(account_step).to_contain_text(account.custodian_account_number)
    page.click("button:has-text('Log out')")

    for person in PEOPLE:
        page.goto(invitation_path(person["email"]))
        page.fill("#id_new_password1", PASSWORD)
        page.fill("#id_new_password2", PASSWORD)
        page.click("button:has-text('Set password')")
        expect(page.locator("h1")).to_contain_text(f"Welcome, {person['first_name']}")
        expect(page.locator("dl.facts")).to_contain_text(person["tax_id"].replace("-", ""))  # their own id, in clear
        for _ in REQUIRED_KINDS:
            page.locator("a.btn:has-text('Sign:')").first.click()
            page.fill("#id_signed_name", f"{person['first_name']} {person['last_name']}")
            page.check("#id_agree")
            page.click("button:has-text('Sign')")
            expect(page.locator(".msg").first).to_contain_text("Signed:")
        expect(page.locator("a.btn:has-text('Sign:')")).to_have_count(0)
        page.click("button:has-text('Log out')")

    assert Signature.objects.count() == 6
    login(demo_advisor.user)
    page.goto(f"/households/{account.household_id}/onboarding/")
    expect(page.locator("tr[data-step=agreements][data-status=done]")).to_have_count(2)
    expect(page.locator("text=signed by Dana Whitfield").first).to_be_visible()
    page.click("button:has-text('Log out')")

    # Dana funds the joint account
    page.goto("/accounts/login/")
    page.fill("input[name=username]", PEOPLE[0]["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.goto(f"/accounts/{account.pk}/trading/")
    page.select_option("#id_direction", "deposit")
    page.fill("#id_amount", "25000.00")
    page.click("button:has-text('Request transfer')")
    expect(page.locator(".msg").first).to_contain_text("Deposit requested")
    assert CashTransfer.objects.get(account=account).amount == 25000
