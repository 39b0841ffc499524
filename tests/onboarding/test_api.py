"""The onboarding API contract: households, investors, accounts without a number, the
onboarding steps and the documents, with role rules and idempotency keys."""

import pytest

from accounts.models import Household, Investor, Role
from portfolios.models import InvestmentAccount
from tests.accounts.factories import UserFactory
from tests.onboarding.conftest import api_cip

pytestmark = pytest.mark.django_db


def post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_an_advisor_creates_a_household_they_advise(alice, api):
    client = api(alice.user)
    response = post(client, "/api/v1/households/", {"name": "Whitfield Family"}, "h1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Whitfield Family" and body["advisor"]["id"] == alice.pk and body["investors"] == []
    assert Household.objects.get(pk=body["id"]).firm_id == alice.firm_id
    again = post(client, "/api/v1/households/", {"name": "Whitfield Family"}, "h1")
    assert again.status_code == 201 and again.json() == body and again["Idempotent-Replayed"] == "true"
    assert Household.objects.filter(name="Whitfield Family").count() == 1


def test_a_household_post_needs_an_idempotency_key(alice, api):
    response = api(alice.user).post("/api/v1/households/", {"name": "X"}, format="json")
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["detail"]
    assert not Household.objects.filter(name="X").exists()


def test_investors_and_compliance_cannot_create_households(charlie, officer, api):
    for user in (charlie, officer):
        response = post(api(user), "/api/v1/households/", {"name": f"By {user.email}"}, f"k-{user.pk}")
        assert response.status_code == 403
    assert not Household.objects.filter(name__startswith="By ").exists()


def test_operations_create_a_household_for_an_advisor_of_their_firm(ops, alice, bob, api):
    client = api(ops)
    missing = post(client, "/api/v1/households/", {"name": "Ops made"}, "o1")
    assert missing.status_code == 400 and "advisor" in missing.json()
    made = post(client, "/api/v1/households/", {"name": "Ops made", "advisor": bob.pk}, "o2")
    assert made.status_code == 201 and made.json()["advisor"]["id"] == bob.pk
    foreign = UserFactory(email="far@example.com")
    from tests.accounts.factories import AdvisorFactory

    other = AdvisorFactory(user=foreign)
    assert post(client, "/api/v1/households/", {"name": "Far", "advisor": other.pk}, "o3").status_code == 400


def test_a_duplicate_household_name_is_a_field_error(alice, alice_household, api):
    """A conflict with a stored household (409, documented on every write), with the field named."""
    response = post(api(alice.user), "/api/v1/households/", {"name": alice_household.name}, "d1")
    assert response.status_code == 409 and response.json()["name"] == [
        "A household with this name already exists in the firm."
    ]


def test_an_investor_is_added_with_identification_and_the_tax_id_is_write_only(alice, alice_household, api):
    response = post(api(alice.user), f"/api/v1/households/{alice_household.pk}/investors/", api_cip(), "i1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "tax_id" not in body and body["tax_id_last4"] == "6789"
    assert body["address"] == {
        "line1": "1 Main St",
        "line2": "",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "country": "US",
    }
    assert body["households"] == [alice_household.pk]
    assert "123-45-6789" not in response.content.decode() and "123456789" not in response.content.decode()


@pytest.mark.parametrize(
    ("change", "field_path"),
    [
        ({"tax_id": "12-3456-789"}, ("tax_id",)),
        ({"date_of_birth": "2999-01-01"}, ("date_of_birth",)),
        ({"address": {"line1": "", "city": "X", "postal_code": "1", "country": "US"}}, ("address", "line1")),
        ({"citizenship": "USA"}, ("citizenship",)),
        ({"employment_status": "astronaut"}, ("employment_status",)),
        ({"phone": "call me"}, ("phone",)),
    ],
)
def test_bad_investor_input_is_a_field_error_and_writes_nothing(alice, alice_household, api, change, field_path):
    before = Investor.objects.count()
    response = post(api(alice.user), f"/api/v1/households/{alice_household.pk}/investors/", api_cip(**change), "bad")
    assert response.status_code == 400
    errors = response.json()
    for key in field_path:
        errors = errors[key]
    assert errors
    assert Investor.objects.count() == before


def test_a_missing_identification_field_is_a_field_error(alice, alice_household, api):
    body = api_cip()
    for field in ("tax_id", "date_of_birth", "address", "email"):
        body.pop(field)
    response = post(api(alice.user), f"/api/v1/households/{alice_household.pk}/investors/", body, "miss")
    assert response.status_code == 400
    assert {"tax_id", "date_of_birth", "address", "email"} <= set(response.json())


def test_another_advisors_household_is_a_404_and_an_investor_may_not_add(
    alice, bob_household, charlie, alice_household, api
):
    assert post(api(alice.user), f"/api/v1/households/{bob_household.pk}/investors/", api_cip(), "x").status_code == 404
    assert post(api(charlie), f"/api/v1/households/{alice_household.pk}/investors/", api_cip(), "y").status_code == 403


def test_get_and_patch_an_investor(alice, bob, alice_household, officer, api):
    created = post(api(alice.user), f"/api/v1/households/{alice_household.pk}/investors/", api_cip(), "i1").json()
    url = f"/api/v1/investors/{created['id']}/"
    assert api(alice.user).get(url).json()["last_name"] == "Whitfield"
    assert api(officer).get(url).status_code == 200
    assert api(bob.user).get(url).status_code == 404
    changed = api(alice.user).patch(
        url,
        {
            "address": {"line1": "2 Oak Ave", "city": "Chicago", "postal_code": "60601", "country": "US"},
            "tax_id": "987654321",
        },
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["address"]["line1"] == "2 Oak Ave" and changed.json()["tax_id_last4"] == "4321"
    bad = api(alice.user).patch(url, {"tax_id": "98765"}, format="json")
    assert bad.status_code == 400 and "tax_id" in bad.json()
    assert Investor.objects.get(pk=created["id"]).tax_id_last4 == "4321"
    assert api(officer).patch(url, {"phone": "+1 555 0100 000"}, format="json").status_code == 403


def test_an_account_is_created_without_a_custodian_number(alice, alice_household, api):
    inv = post(api(alice.user), f"/api/v1/households/{alice_household.pk}/investors/", api_cip(), "i1").json()
    response = api(alice.user).post(
        "/api/v1/accounts/",
        {"household": alice_household.pk, "name": "Brokerage", "account_type": "individual", "owners": [inv["id"]]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["custodian_account_number"] is None and body["status"] == "pending"
    assert body["owners"] == [{"investor": inv["id"], "name": "Dana Whitfield", "role": "owner"}]


def test_an_ira_without_a_beneficiary_is_a_field_error_over_the_api(alice, alice_household, api):
    inv = post(api(alice.user), f"/api/v1/households/{alice_household.pk}/investors/", api_cip(), "i1").json()
    before = InvestmentAccount.objects.count()
    response = api(alice.user).post(
        "/api/v1/accounts/",
        {"household": alice_household.pk, "name": "IRA", "account_type": "roth_ira", "owners": [inv["id"]]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ira-1",
    )
    assert response.status_code == 400 and "beneficiaries" in response.json()
    assert InvestmentAccount.objects.count() == before
    ok = api(alice.user).post(
        "/api/v1/accounts/",
        {
            "household": alice_household.pk,
            "name": "IRA",
            "account_type": "roth_ira",
            "owners": [inv["id"]],
            "beneficiaries": [{"name": "Ana", "relationship": "daughter", "share_percent": "100.00"}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="ira-1",  # the failed attempt stored nothing: the key may be used again
    )
    assert ok.status_code == 201, ok.json()
    assert ok.json()["beneficiaries"] == [
        {"name": "Ana", "relationship": "daughter", "share_percent": "100.00", "kind": "primary"}
    ]


def test_the_onboarding_steps_say_what_is_missing(alice, alice_household, api, officer, bob):
    response = api(alice.user).get(f"/api/v1/households/{alice_household.pk}/onboarding/")
    assert response.status_code == 200
    steps = response.json()["steps"]
    assert steps[0] == {
        "key": "household",
        "label": "Household created",
        "status": "done",
        "missing": [],
        "subject": alice_household.name,
    }
    assert {"key": "investors", "status": "action_needed"}.items() <= steps[1].items()
    assert steps[-1]["key"] == "account" and steps[-1]["status"] == "action_needed"
    assert response.json()["complete"] is False
    assert api(officer).get(f"/api/v1/households/{alice_household.pk}/onboarding/").status_code == 200
    assert api(bob.user).get(f"/api/v1/households/{alice_household.pk}/onboarding/").status_code == 404


def test_submitting_with_missing_data_is_refused(alice, alice_household, api):
    """The household's state refuses it (409: the same request succeeds once investors and accounts exist)."""
    response = post(api(alice.user), f"/api/v1/households/{alice_household.pk}/onboarding/submit/", {}, "s1")
    assert response.status_code == 409
    assert "investors" in response.json() and "accounts" in response.json()


def test_role_names_exist():
    assert Role.INVESTOR == "investor"
