"""The front door's events, each written in the transaction of its change: a household created
on the onboarding page, an account opened by the custodian (not when it is merely requested),
an agreement signed — and none when the change is refused."""

import pytest

from accounts.models import Event, Household
from accounts.services import investor_onboard
from onboarding.errors import OnboardingError
from onboarding.services import agreement_sign
from portfolios.models import InvestmentAccount
from tests.accounts.factories import UserFactory
from tests.onboarding.conftest import cip
from tests.onboarding.test_flow import apply_kyc_results, household, submit  # noqa: F401 -- fixture

pytestmark = pytest.mark.django_db


def test_a_household_created_on_the_page_emits_household_created(alice, verified_client):
    response = verified_client(alice.user).post("/households/new/", {"name": "Whitfield Family"})
    assert response.status_code == 302
    created = Household.objects.get(name="Whitfield Family")
    event = Event.objects.get(kind="household.created")
    assert (event.household_id, event.firm_id) == (created.pk, alice.firm_id)
    assert event.payload["name"] == "Whitfield Family"
    # a duplicate name is refused: no second event
    verified_client(alice.user).post("/households/new/", {"name": "Whitfield Family"})
    assert Event.objects.filter(kind="household.created").count() == 1


def test_account_opened_is_emitted_when_the_custodian_opens_the_account(
    household,  # noqa: F811
    kyc_sandbox,
    custodian,
    django_capture_on_commit_callbacks,
):
    assert not Event.objects.filter(kind="account.opened").exists()  # requested, not opened
    submit(household, django_capture_on_commit_callbacks)
    apply_kyc_results(kyc_sandbox, django_capture_on_commit_callbacks)
    assert not Event.objects.filter(kind="account.opened").exists()  # asked of the custodian
    assert custodian.deliver() == 1
    account = InvestmentAccount.objects.get(pk=household["account"])
    event = Event.objects.get(kind="account.opened")
    assert (event.account_id, event.household_id) == (account.pk, household["id"])
    assert event.payload["status"] == "open"
    assert event.payload["custodian_account_number"] == account.custodian_account_number
    custodian.deliver()  # nothing new; a repeat of the webhook opens nothing twice
    assert Event.objects.filter(kind="account.opened").count() == 1


def test_a_signature_emits_agreement_signed(alice, alice_household, templates):
    login = UserFactory(email="dana@example.com", roles=["investor"])
    investor = investor_onboard(household=alice_household, acting_user=alice.user, **cip())
    investor.user = login
    investor.save()
    template = templates["advisory_agreement"]
    sign = {
        "household": alice_household,
        "investor": investor,
        "template": template,
        "signer": login,
        "signed_name": "Dana Whitfield",
        "ip_address": "198.51.100.4",
        "user_agent": "pytest",
    }
    signature = agreement_sign(**sign)
    event = Event.objects.get(kind="agreement.signed")
    assert (event.household_id, event.investor_id, event.subject_id) == (alice_household.pk, investor.pk, signature.pk)
    assert event.payload["kind"] == "advisory_agreement"
    assert event.payload["document_sha256"] == template.sha256
    assert event.payload["document_version"] == template.version
    with pytest.raises(OnboardingError):
        agreement_sign(**sign)  # signed already: refused, no event
    assert Event.objects.filter(kind="agreement.signed").count() == 1
