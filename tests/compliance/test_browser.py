"""In headless Chromium: the compliance officer clears an AML case and approves a queued
order; the investor completes the risk questionnaire. Reuses tests/browser's harness."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Investor, Role
from compliance.models import AMLCase, AMLScreening, RiskProfile
from kronos.history import save_attributed
from tests.accounts.factories import UserFactory
from tests.compliance import factories as cf
from tests.compliance.factories import ANSWERS_LEVEL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def officer(alice, roles):  # noqa: F811
    return UserFactory(email="cora@example.com", full_name="Cora Compliance", firm=alice.firm, roles=[Role.COMPLIANCE])


def test_the_officer_clears_an_aml_case_and_approves_a_queued_order(login, officer, account, alice, owner, settings):  # noqa: F811
    from trading.services import order_create

    settings.TRADING_RELAY_ON_COMMIT = False
    order = order_create(
        account=account, security="VTI", side="buy", acting_user=alice.user, source="advisor", amount=Decimal("2000")
    )
    assert order.status == "pending_review"
    screening = save_attributed(
        AMLScreening(
            investor=owner,
            trigger="scheduled",
            best_score=Decimal("91"),
            is_hit=True,
            matches=[
                {
                    "ref": "1",
                    "name": "Charly Investor",
                    "matched_name": "Charly Investor",
                    "list": "Demo PEP List",
                    "score": "91.0",
                    "reasons": ["name 91"],
                }
            ],
        ),
        acting_user=None,
    )
    case = save_attributed(
        AMLCase(investor=owner, screening=screening, best_score=Decimal("91"), matches=screening.matches),
        acting_user=None,
    )

    page = login(officer)  # noqa: F811
    page.goto("/compliance/aml/")
    page.click(f"text=Case {case.pk}")
    page.select_option("select[name=decision]", "cleared")
    page.fill("textarea[name=note]", "Different person: the PEP list entry is a namesake.")
    page.click("button[name=decide]")
    page.wait_for_url("**/compliance/aml/")
    case.refresh_from_db()
    assert case.status == "cleared"

    page.goto("/compliance/orders/")
    assert "above the limit" in page.content()
    page.select_option(f"#order-{order.pk} select[name=decision]", "approve")
    page.fill(f"#order-{order.pk} [name=note]", "Approved: client instruction on file.")
    page.click(f"#order-{order.pk} button:has-text('Decide')")
    page.wait_for_load_state()
    assert f"Order {order.pk} approved" in page.content()
    order.refresh_from_db()
    assert order.status == "approved"


def test_the_order_review_chooses_nothing_and_a_rejection_needs_a_note_the_advisor_then_reads(
    login, officer, account, alice, owner, settings
):
    from trading.services import order_create

    settings.TRADING_RELAY_ON_COMMIT = False
    order = order_create(
        account=account, security="VTI", side="buy", acting_user=alice.user, source="advisor", amount=Decimal("2000")
    )
    assert order.status == "pending_review"
    row = f"#order-{order.pk}"

    page = login(officer)  # noqa: F811
    page.goto("/compliance/orders/")
    decision = page.locator(f"{row} select[name=decision]")
    assert decision.input_value() == ""  # no decision is made for the officer
    assert page.locator(f"{row} select[name=decision] option:checked").inner_text() == "Choose a decision…"

    page.click(f"{row} button:has-text('Decide')")  # nothing chosen: the browser does not send it
    assert decision.evaluate("el => !el.validity.valid")
    order.refresh_from_db()
    assert order.status == "pending_review"

    decision.select_option("reject")  # a rejection without a note: refused, with the reason why
    page.click(f"{row} button:has-text('Decide')")
    page.wait_for_load_state()
    expect(page.locator(f"{row} .error")).to_have_text("Write why the order is rejected: the advisor reads this note.")
    assert page.locator(f"{row} select[name=decision]").input_value() == "reject"  # the choice is kept
    order.refresh_from_db()
    assert order.status == "pending_review"

    page.fill(f"{row} [name=note]", "Too concentrated in one fund for this client.")
    page.click(f"{row} button:has-text('Decide')")
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text(f"Order {order.pk} rejected.")
    order.refresh_from_db()
    assert order.status == "rejected" and order.status_reason == "Too concentrated in one fund for this client."

    # The advisor sees the reason as text on the account's orders, not only in a hover title.
    page.context.clear_cookies()
    login(alice.user)
    page.goto(f"/accounts/{account.pk}/trading/")
    expect(page.locator(f"tr[data-order='{order.pk}'] .order-reason")).to_have_text(
        "Too concentrated in one fund for this client."
    )
    assert page.locator(f"tr[data-order='{order.pk}'] .order-reason").is_visible()


def test_the_investor_completes_the_risk_questionnaire(login, charlie, roles):  # noqa: F811
    investor = Investor.objects.get(user=charlie)
    page = login(charlie)  # noqa: F811
    page.goto(f"/investors/{investor.pk}/risk-profile/")
    for key, value in ANSWERS_LEVEL[7].items():
        page.check(f'input[name="{key}"][value="{value}"]')
    page.click("button:has-text('Save my answers')")
    page.wait_for_load_state()
    assert "risk level 7 of 10" in page.content()
    assert RiskProfile.objects.get(investor=investor).risk_level == 7
    assert cf  # factories imported for the account fixture chain
