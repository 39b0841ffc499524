"""Household pages and API: who sees what, who changes what, and at a fixed query count."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Household
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_officer(alice):
    return UserFactory(email="carol@example.com", roles=["compliance officer"], firm=alice.firm)


@pytest.fixture
def outsider_household(db):
    """A household of another firm altogether."""
    return HouseholdFactory(name="Zimmer Household")


# --- pages -------------------------------------------------------------------------------


def test_an_investor_sees_only_their_households(client, charlie, bob_household):
    client.force_login(charlie)
    page = client.get("/households/")
    assert "Alvarez Household" in page.text
    assert "Bennett Household" not in page.text
    assert client.get(f"/households/{bob_household.pk}/").status_code == 404


def test_an_advisor_sees_only_their_clients(verified_client, alice, alice_household, bob_household):
    client = verified_client(alice.user)
    page = client.get("/households/")
    assert "Alvarez Household" in page.text and "Bennett Household" not in page.text
    assert client.get(f"/households/{alice_household.pk}/").status_code == 200
    assert client.get(f"/households/{bob_household.pk}/").status_code == 404


def test_a_compliance_officer_sees_the_whole_firm_and_no_other(
    verified_client, compliance_officer, alice_household, bob_household, outsider_household
):
    page = verified_client(compliance_officer).get("/households/")
    assert "Alvarez Household" in page.text and "Bennett Household" in page.text
    assert "Zimmer Household" not in page.text


def test_the_household_page_shows_investors_and_advisor(client, charlie, alice_household):
    client.force_login(charlie)
    page = client.get(f"/households/{alice_household.pk}/")
    assert "Charlie Investor" in page.text
    assert "Alice Advisor" in page.text
    assert "Edit household" not in page.text  # investors read only


def test_search_answers_htmx_with_the_table_partial_only(verified_client, alice, alice_household):
    HouseholdFactory(advisor=alice, firm=alice.firm, name="Okafor Household")
    page = verified_client(alice.user).get("/households/", {"q": "okaf"}, HTTP_HX_REQUEST="true")
    assert page.text.lstrip().startswith('<div id="household-table">')
    assert "Okafor Household" in page.text and "Alvarez Household" not in page.text


def test_an_advisor_edits_a_household_and_history_names_them(verified_client, alice, alice_household):
    client = verified_client(alice.user)
    answer = client.post(
        f"/households/{alice_household.pk}/edit/", {"name": "Alvarez Family", "status": "active", "notes": "Met in May"}
    )
    assert answer.status_code == 302
    last = Household.history.filter(id=alice_household.pk).latest("history_date")
    assert last.name == "Alvarez Family"
    assert last.history_user == alice.user


def test_the_edit_form_shows_errors_and_saves_nothing(verified_client, alice, alice_household):
    HouseholdFactory(advisor=alice, firm=alice.firm, name="Taken Name")
    client = verified_client(alice.user)
    page = client.post(f"/households/{alice_household.pk}/edit/", {"name": "Taken Name", "status": "active"})
    assert page.status_code == 200
    assert "already exists" in page.text
    alice_household.refresh_from_db()
    assert alice_household.name == "Alvarez Household"


def test_an_investor_cannot_edit(client, charlie, alice_household):
    client.force_login(charlie)
    assert client.get(f"/households/{alice_household.pk}/edit/").status_code == 404


def test_an_admin_change_leaves_a_history_row_naming_the_user(verified_client, alice_household):
    ops = UserFactory(
        email="ops@example.com", roles=["operations"], is_staff=True, is_superuser=True, firm=alice_household.firm
    )
    client = verified_client(ops)
    form = client.get(f"/admin/accounts/household/{alice_household.pk}/change/")
    assert form.status_code == 200
    data = {
        "firm": alice_household.firm_id,
        "name": "Renamed In Admin",
        "advisor": alice_household.advisor_id,
        "status": "active",
        "notes": "",
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    answer = client.post(f"/admin/accounts/household/{alice_household.pk}/change/", data)
    assert answer.status_code == 302, answer.text[:2000]
    last = Household.history.filter(id=alice_household.pk).latest("history_date")
    assert (last.name, last.history_user) == ("Renamed In Admin", ops)


def _book(advisor, count, prefix="Book"):
    for i in range(count):
        household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name=f"{prefix} {i:04d}")
        InvestorFactory(firm=advisor.firm, households=[household])


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
@pytest.mark.parametrize("path", ["/households/", "/api/v1/households/"])
def test_households_keep_a_fixed_query_count_for_5_and_200(verified_client, api, alice, path):
    client = verified_client(alice.user) if path == "/households/" else api(alice.user)

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path, {"page_size": 500}).status_code == 200
        return len(ctx.captured_queries)

    _book(alice, 5)
    small = count_queries()
    _book(AdvisorFactory(firm=alice.firm), 3, prefix="Other")  # others' rows don't matter either
    _book(alice, 195, prefix="More")
    assert count_queries() == small


# --- API ---------------------------------------------------------------------------------


def test_me_says_who_the_token_belongs_to(api, alice):
    body = api(alice.user).get("/api/v1/me/").json()
    assert body["email"] == "alice@example.com"
    assert body["roles"] == ["advisor"]
    assert body["firm"]["id"] == alice.firm_id


def test_the_api_scopes_households_per_role(
    api, alice, bob, charlie, alice_household, bob_household, compliance_officer, outsider_household
):
    def names(user):
        return sorted(h["name"] for h in api(user).get("/api/v1/households/").json()["results"])

    assert names(charlie) == ["Alvarez Household"]
    assert names(alice.user) == ["Alvarez Household"]
    assert names(bob.user) == ["Bennett Household"]
    assert names(compliance_officer) == ["Alvarez Household", "Bennett Household"]
    assert api(charlie).get(f"/api/v1/households/{bob_household.pk}/").status_code == 404
    assert api(alice.user).get(f"/api/v1/households/{bob_household.pk}/").status_code == 404
    assert api(bob.user).get(f"/api/v1/households/{bob_household.pk}/").json()["advisor"]["name"] == "Bob Advisor"
    assert api(compliance_officer).get(f"/api/v1/households/{outsider_household.pk}/").status_code == 404


def test_the_api_answers_without_a_token_with_401_json(client):
    answer = client.get("/api/v1/households/")
    assert answer.status_code == 401
    assert answer.json()["detail"]


def test_a_bad_token_is_401_json(client):
    answer = client.get("/api/v1/households/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert answer.status_code == 401
    assert "detail" in answer.json()


def test_a_read_token_cannot_write(api, alice, alice_household):
    answer = api(alice.user, "read").patch(f"/api/v1/households/{alice_household.pk}/", {"name": "X"}, format="json")
    assert answer.status_code == 403
    assert "scope" in answer.json()["detail"]


def test_an_api_change_leaves_history_naming_the_token_user(api, alice, alice_household):
    answer = api(alice.user).patch(
        f"/api/v1/households/{alice_household.pk}/", {"notes": "Prefers email"}, format="json"
    )
    assert answer.status_code == 200
    last = Household.history.filter(id=alice_household.pk).latest("history_date")
    assert (last.notes, last.history_user) == ("Prefers email", alice.user)


def test_malformed_json_is_a_400(api, alice, alice_household):
    answer = api(alice.user).generic(
        "PATCH", f"/api/v1/households/{alice_household.pk}/", "{not json", content_type="application/json"
    )
    assert answer.status_code == 400
    assert "JSON" in answer.json()["detail"]


def test_invalid_fields_are_400_with_field_errors(api, alice, alice_household):
    answer = api(alice.user).patch(f"/api/v1/households/{alice_household.pk}/", {"status": "bankrupt"}, format="json")
    assert answer.status_code == 400
    assert "status" in answer.json()


def test_an_investor_may_not_change_a_household_by_api(api, charlie, alice_household):
    answer = api(charlie).patch(f"/api/v1/households/{alice_household.pk}/", {"notes": "x"}, format="json")
    assert answer.status_code == 403


def test_unknown_api_urls_are_json_404(api, alice):
    answer = api(alice.user).get("/api/v1/nothing-here/")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not found.", "code": "not_found"}


def test_the_schema_and_docs_are_served_without_a_cdn(verified_client, alice):
    client = verified_client(alice.user)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/households/{id}/" in schema.json()["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/static/drf_spectacular_sidecar/" in docs.text


def test_a_household_is_never_hard_deleted(alice_household, verified_client):
    from kronos.retention import RetentionError

    with pytest.raises(RetentionError, match="kept for seven years"):
        alice_household.delete()
    with pytest.raises(RetentionError):
        Household.objects.filter(pk=alice_household.pk).delete()
    ops = UserFactory(email="ops2@example.com", roles=["operations"], is_staff=True, is_superuser=True)
    page = verified_client(ops).get(f"/admin/accounts/household/{alice_household.pk}/delete/")
    assert page.status_code == 403
    assert Household.objects.filter(pk=alice_household.pk).exists()
