"""The order review queue on trading's orders, and the checks API."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Role
from tests.accounts.factories import UserFactory
from tests.compliance import factories as cf

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(alice):
    return UserFactory(email="cora@example.com", full_name="Cora Compliance", firm=alice.firm, roles=[Role.COMPLIANCE])


def place(account, alice, amount="2000"):
    from trading.services import order_create

    return order_create(
        account=account, security="VTI", side="buy", acting_user=alice.user, source="api", amount=Decimal(amount)
    )


def test_a_soft_failure_queues_the_order_and_the_officer_approves_it(
    account, alice, officer, verified_client, settings
):
    settings.TRADING_RELAY_ON_COMMIT = False
    order = place(account, alice)
    assert order.status == "pending_review"
    client = verified_client(officer)
    page = client.get(reverse("compliance:order_queue"))
    assert b"above the limit of 25.0%" in page.content
    client.post(
        reverse("compliance:order_decide", args=[order.pk]),
        {"decision": "approve", "note": "Client's instruction on file."},
    )
    order.refresh_from_db()
    assert order.status == "approved"


def test_the_officer_rejects_a_queued_order(account, alice, officer, verified_client):
    order = place(account, alice)
    verified_client(officer).post(
        reverse("compliance:order_decide", args=[order.pk]), {"decision": "reject", "note": "Too concentrated."}
    )
    order.refresh_from_db()
    assert order.status == "rejected"


def test_an_order_for_an_owner_without_kyc_is_rejected_with_the_reason_in_the_api(account, alice, owner, api):
    cf.kyc(owner, "pending")
    order = place(account, alice, amount="100")
    assert order.status == "rejected"
    checks = api(alice.user).get(f"/api/v1/orders/{order.pk}/checks/").json()
    kyc = next(c for c in checks if c["rule"] == "kyc")
    assert kyc["outcome"] == "fail" and kyc["hard"] is True and "Charlie Investor (pending)" in kyc["message"]


def test_another_advisors_order_checks_are_a_404(account, alice, bob, api):
    order = place(account, alice, amount="100")
    assert api(bob.user).get(f"/api/v1/orders/{order.pk}/checks/").status_code == 404


def test_the_audit_api_is_for_compliance_officers(account, alice, officer, api):
    assert api(alice.user).get("/api/v1/audit/").status_code == 403
    response = api(officer).get("/api/v1/audit/", {"model": "compliance.RiskProfile", "page_size": 5})
    assert response.status_code == 200
    entry = response.json()["results"][0]
    assert entry["model"] == "compliance.RiskProfile" and entry["action"] == "created"
    assert api(officer).get("/api/v1/audit/", {"model": "nope.Nope"}).status_code == 400


def test_the_review_form_chooses_nothing_for_the_officer(account, alice, officer, verified_client):
    order = place(account, alice)
    page = verified_client(officer).get(reverse("compliance:order_queue")).content.decode()
    row = page[page.index(f'id="order-{order.pk}"') :]
    select = row[row.index("<select") : row.index("</select>")]
    assert 'name="decision" required' in select
    assert select.index('<option value="">Choose a decision…</option>') < select.index('value="approve"')
    assert "selected" not in select


@pytest.mark.parametrize(
    "data, message",
    [
        ({"note": "Looks fine."}, "Choose approve or reject."),
        ({"decision": "", "note": "Looks fine."}, "Choose approve or reject."),
        ({"decision": "reject"}, "Write why the order is rejected"),
        ({"decision": "reject", "note": "   "}, "Write why the order is rejected"),
    ],
)
def test_a_decision_without_a_choice_or_a_rejection_without_a_note_is_refused(
    account, alice, officer, verified_client, data, message
):
    order = place(account, alice)
    response = verified_client(officer).post(reverse("compliance:order_decide", args=[order.pk]), data)
    assert response.status_code == 400
    text = response.content.decode()
    row = text[text.index(f'id="order-{order.pk}"') :]
    assert message in row[: row.index("</tr>")]  # shown on the order's own row
    order.refresh_from_db()
    assert order.status == "pending_review"


def test_the_service_refuses_a_rejection_without_a_note(account, alice, officer):
    from trading.errors import TradingError
    from trading.services import order_review_decide

    order = place(account, alice)
    with pytest.raises(TradingError, match="Write why the order is rejected") as caught:
        order_review_decide(order=order, approve=False, acting_user=officer, note=" ")
    assert caught.value.field == "note"
    order.refresh_from_db()
    assert order.status == "pending_review"


def test_the_review_queue_shows_quantities_exactly_and_amounts_as_money(account, alice, officer, verified_client):
    from trading.services import order_create

    by_quantity = order_create(
        account=account,
        security="VTI",
        side="buy",
        acting_user=alice.user,
        source="api",
        quantity=Decimal("1.123456789"),
    )
    by_amount = place(account, alice, amount="2500")
    assert by_quantity.status == by_amount.status == "pending_review"
    page = verified_client(officer).get(reverse("compliance:order_queue")).content.decode()
    assert "Buy 1.123456789 VTI" in page  # not rounded to 1.1235
    assert "Buy VTI for $2,500.00" in page
