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
