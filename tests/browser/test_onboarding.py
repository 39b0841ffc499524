"""In a real browser: the demo advisor onboards a new household — two investors and a joint
account — from an empty form until the custodian has opened the account; each investor
follows their invitation, reviews their data, signs the three documents and answers the risk
questionnaire; one of them funds the account, the deposit settles at the (sandbox) bank
through the transfer relay, the advisor assigns a model, rebalances, approves, and sees the
account invested once the sandbox custodian's fills come back by webhook.

The KYC sandbox posts its signed results to the live server, the sandbox custodian answers
the account opening with a signed webhook to the live server, and AML screens against the
(empty) watch list, all for real; nothing in the test hands the page its result — the
household page polls every 2 s and shows "account opened" by itself. A "worker" thread runs the
outbox relay every 200 ms, as the periodic relay does in production: it sends the deposit to
the bank and the orders to the custodian.
"""

import re
import threading
from decimal import Decimal

import pytest
from django.core import mail
from playwright.sync_api import expect

from onboarding.models import REQUIRED_KINDS, AgreementTemplate, Signature
from portfolios.models import InvestmentAccount
from tests.accounts.factories import PASSWORD, AdvisorFactory
from tests.compliance.factories import ANSWERS_LEVEL
from tests.trading.factories import make_security, model_of
from trading.models import CashTransfer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "browser-onboarding-secret"


@pytest.fixture
def sandboxes(live_server, settings):
    from sandboxes.banking import SandboxBank
    from sandboxes.custodian import SandboxCustodian
    from sandboxes.kyc import start_in_thread

    settings.CUSTODIAN_WEBHOOK_SECRET = SECRET
    settings.CUSTODIAN_RETRIES = 0
    settings.TRADING_RELAY_ON_COMMIT = False
    custodian = SandboxCustodian(secret=SECRET, webhook_url=f"{live_server.url}/webhooks/custodian/", seed=5)
    settings.CUSTODIAN_URL = custodian.start()
    # No delay: the result may overtake the provider's answer to the start (recorded before it).
    kyc = start_in_thread(secret=settings.KYC_WEBHOOK_SECRET, delay=0)
    settings.KYC_URL = kyc.url
    settings.KYC_CALLBACK_URL = f"{live_server.url}/webhooks/kyc/"
    bank = SandboxBank()  # settles a transfer when it is created (its default)
    settings.BANKING_URL = bank.start()
    stop = threading.Event()
    errors: list[BaseException] = []

    def relay_worker() -> None:
        from django.db import connection

        from trading.services import relay_outbox

        try:
            while not stop.wait(0.2):
                relay_outbox()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=relay_worker, name="relay-worker", daemon=True)
    worker.start()
    yield
    stop.set()
    worker.join(timeout=10)
    kyc.shutdown()
    kyc.server_close()
    custodian.stop()
    bank.stop()
    assert not errors, errors


@pytest.fixture
def demo_advisor(roles):
    from compliance.models import ComplianceSettings

    advisor = AdvisorFactory(user__email="advisor@demo.kronos", user__full_name="Alex Morgan")
    for symbol, price in (("VTI", "200"), ("BND", "70")):
        make_security(symbol, price)
    model = model_of(advisor.firm, {"VTI": "0.6", "BND": "0.4"})
    model.name = "Balanced 60/40"
    model.save()
    # the firm's real pre-trade checks, with a concentration limit a two-fund model can meet
    ComplianceSettings.objects.create(firm=advisor.firm, concentration_limit=Decimal("0.7"))
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


def reload_until(page, url, selector, text, *, seconds=20):
    """Reload `url` until `selector` shows `text` (pages without their own polling)."""
    for _ in range(seconds * 2):
        page.goto(url)
        if text in (page.locator(selector).first.text_content() or ""):
            return
        page.wait_for_timeout(500)
    expect(page.locator(selector).first).to_contain_text(text)


def fresh_totp_step(user):
    """Wait for the next TOTP step when the advisor's last code is from this one: django-otp
    refuses a code twice (the login helper computes the current step's code)."""
    import time

    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user).order_by("-id").first()
    while device is not None and int((time.time() - device.t0) // device.step) <= (device.last_t or -1):
        time.sleep(0.5)


def percent(text):
    return Decimal(text.strip().split("%")[0].replace(",", ""))


def test_the_advisor_onboards_a_household_and_the_investors_sign_fund_and_are_invested(
    page, login, demo_advisor, sandboxes
):
    fresh_totp_step(demo_advisor.user)
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
        page.click("#answer-questionnaire")
        expect(page.locator("h1")).to_contain_text(f"Risk questionnaire: {person['first_name']}")
        for question, answer in ANSWERS_LEVEL[7].items():
            page.check(f"input[name='{question}'][value='{answer}']")
        page.click("button:has-text('Save my answers')")
        expect(page.locator(".msg").first).to_contain_text("Risk profile saved: risk level 7 of 10")
        expect(page.locator("#risk-result")).to_contain_text("7 of 10")
        page.click("button:has-text('Log out')")

    assert Signature.objects.count() == 6
    fresh_totp_step(demo_advisor.user)
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
    # the relay sends it to the bank, which settles it; only then is it cash
    reload_until(page, f"/accounts/{account.pk}/trading/", "ul.plain li .badge", "Settled")
    transfer = CashTransfer.objects.get(account=account)
    assert transfer.status == "settled" and transfer.bank_transfer_id
    page.click("button:has-text('Log out')")

    # The advisor assigns the model (both owners' risk level 7 ≥ the model's 5) and rebalances.
    fresh_totp_step(demo_advisor.user)
    login(demo_advisor.user)
    page.goto(f"/accounts/{account.pk}/")
    expect(page.locator("#kpi-cash")).to_contain_text("25,000.00")
    page.goto(f"/accounts/{account.pk}/settings/")
    page.select_option("#id_model", label="Balanced 60/40")
    page.click("button:has-text('Save settings')")
    expect(page.locator("#kpi-model")).to_contain_text("Balanced 60/40")
    page.goto(f"/accounts/{account.pk}/trading/")
    page.click("button[data-action=rebalance]")
    trades = page.locator("#proposal-trades")
    expect(trades).to_contain_text("VTI")
    expect(trades).to_contain_text("BND")
    page.click("button[data-action=approve]")
    expect(page.locator("#proposal-status")).to_have_text("Approved")
    expect(page.locator(".messages")).not_to_contain_text("rejected")
    orders = page.locator("#proposal-orders tr[data-order]")
    expect(orders).to_have_count(2)
    for i in range(2):  # the page polls; the sandbox custodian fills and posts its webhooks
        expect(orders.nth(i).locator(".badge")).to_have_text(re.compile("^filled$", re.I), timeout=20_000)

    # Invested: the account page shows both holdings near their targets, little cash left.
    page.goto(f"/accounts/{account.pk}/")
    holdings = page.locator("#holdings tbody tr")
    expect(holdings.filter(has_text="VTI")).to_have_count(1)
    expect(holdings.filter(has_text="BND")).to_have_count(1)
    weights = {
        symbol: percent(holdings.filter(has_text=symbol).locator("td").nth(4).text_content())
        for symbol in ("VTI", "BND")
    }
    assert abs(weights["VTI"] - 60) <= 3 and abs(weights["BND"] - 40) <= 3, weights
    cash_weight = percent(page.locator("#kpi-cash").locator("xpath=..").locator(".muted").text_content())
    assert cash_weight <= 3, cash_weight
    expect(page.locator("#drift tr.row-breach")).to_have_count(0)
    from portfolios import ledger

    assert ledger.verify() == []
