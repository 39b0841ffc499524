"""Household pages and API: who sees what, who changes what, and at a fixed query count."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Household, HouseholdMember
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


# --- the lists read rows, not model instances ---------------------------------------------


def _with_members(advisor, name, *investors):
    household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name=name)
    for first, last, relationship in investors:
        investor = InvestorFactory(firm=advisor.firm, first_name=first, last_name=last)
        HouseholdMember.objects.create(household=household, investor=investor, relationship=relationship)
    return household


def test_the_households_apis_lean_answer_is_what_its_schema_serializer_writes(api, alice, charlie, alice_household):
    """The list builds each household's answer from rows (`household_dict`); `HouseholdOutput`
    is its schema: the two write the same keys, in the same order, with the same strings, for
    a household with no investor, one, and several (two of one surname, in the order added)."""
    from accounts.api.households import HouseholdOutput, household_dict
    from accounts.selectors.households import (
        household_list_for_user,
        household_rows_page_for_user,
        household_rows_with_members,
    )

    _with_members(alice, "Brooks Household", ("Priya", "Brooks", "primary"), ("Kenji", "Brooks", "joint"),
                  ("Ada", "Abbott", "dependent"))  # fmt: skip
    HouseholdFactory(advisor=alice, firm=alice.firm, name="Empty Household", status="prospect")
    alice.user.full_name = ""  # str(advisor) falls back to the email
    alice.user.save()
    rows, total = household_rows_page_for_user(user=alice.user, offset=0, limit=50)
    rows = household_rows_with_members(rows)
    models = list(household_list_for_user(user=alice.user))
    assert total == 3 and [r.pk for r in rows] == [h.pk for h in models]
    for row, household in zip(rows, models, strict=True):
        lean, schema = household_dict(row), HouseholdOutput(household).data
        assert list(lean) == list(schema) and lean == dict(schema)
    listed = api(alice.user).get("/api/v1/households/").json()
    assert listed["count"] == 3
    brooks = next(h for h in listed["results"] if h["name"] == "Brooks Household")
    assert [i["name"] for i in brooks["investors"]] == ["Ada Abbott", "Priya Brooks", "Kenji Brooks"]
    assert brooks["advisor"]["name"] == alice.user.email
    # "last", and a page past the last (read through the paginator's queryset): the same rows
    last = api(alice.user).get("/api/v1/households/", {"page": "last", "page_size": 2}).json()
    assert last["count"] == 3 and last["results"] == listed["results"][2:]
    assert api(alice.user).get("/api/v1/households/", {"page": 3, "page_size": 2}).status_code == 404


@pytest.mark.usefixtures("uncached")
def test_the_households_api_reads_its_page_in_three_queries(api, alice):
    """The token (with its user and roles), the page with the count of every row, the page's
    investors: three queries, whatever the page's size."""
    _book(alice, 60)
    client = api(alice.user)
    client.get("/api/v1/households/")  # the token's first use
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/v1/households/").json()
    assert body["count"] == 60 and len(body["results"]) == 50
    assert len(ctx.captured_queries) == 3, [q["sql"][:120] for q in ctx.captured_queries]


def test_an_investor_sees_a_shared_household_once(api, client, charlie, alice, alice_household):
    """An investor's scope joins the household's members: a household with three of them is one
    row, counted once, on the API and on the page."""
    for first in ("Dana", "Eli"):
        investor = InvestorFactory(firm=alice.firm, first_name=first, last_name="Investor")
        HouseholdMember.objects.create(household=alice_household, investor=investor, relationship="joint")
    body = api(charlie).get("/api/v1/households/").json()
    assert body["count"] == 1 and [h["name"] for h in body["results"]] == ["Alvarez Household"]
    assert [i["name"] for i in body["results"][0]["investors"]] == ["Charlie Investor", "Dana Investor", "Eli Investor"]
    client.force_login(charlie)
    page = client.get("/households/").text
    assert page.count("Alvarez Household") == 1 and "Charlie Investor, Dana Investor, Eli Investor" in page


@pytest.mark.parametrize(
    ("asked", "shown"), [("2", 2), ("3", 3), ("4", 3), (str(2**70), 3), ("0", 1), ("-1", 1), ("²", 1), ("x", 1)]
)
def test_the_households_page_shows_the_page_asked_or_the_last(verified_client, alice, asked, shown):
    """25 a page: 60 households are three pages. A page past the last shows the last (as far as
    any number goes), one that is not a page number the first."""
    _book(alice, 60)
    page = verified_client(alice.user).get("/households/", {"page": asked})
    assert page.status_code == 200
    first = (shown - 1) * 25
    shown_rows = {n for n in range(60) if f"Book {n:04d}" in page.text}
    assert shown_rows == set(range(first, min(first + 25, 60)))
    assert f"Page {shown} of 3" in page.text


def test_a_search_reads_the_same_rows_as_the_plain_list(api, alice, alice_household):
    """A search is not a compiled read (its pattern is in the SQL): its rows are the plain
    list's, filtered, with their investors."""
    _with_members(alice, "Brooks Household", ("Priya", "Brooks", "primary"))
    plain = api(alice.user).get("/api/v1/households/").json()["results"]
    found = api(alice.user).get("/api/v1/households/", {"search": "priya"}).json()["results"]
    assert found == [h for h in plain if h["name"] == "Brooks Household"]


def test_the_households_rows_escape_every_value(verified_client, alice):
    """The table's rows are written by `household_rows_html`, not the template: names escaped."""
    _with_members(alice, '<b>Bold</b> & "Sons"', ("<i>Ivy</i>", "O'Neil", "primary"), ("Al", "O'Neil", "joint"))
    text = verified_client(alice.user).get("/households/").text
    assert "<b>Bold</b>" not in text and "<i>Ivy</i>" not in text
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &quot;Sons&quot;" in text
    assert "&lt;i&gt;Ivy&lt;/i&gt; O&#x27;Neil, Al O&#x27;Neil" in text
