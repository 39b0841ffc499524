"""The audit trail is scoped to the officer's firm: every history model maps to a path to its
firm or is explicitly firm-less; an unmapped model is shown to nobody but a superuser."""

import time
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import Household, Role
from compliance import audit, permissions
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, UserFactory
from tests.portfolios.factories import InvestmentAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(alice):
    return UserFactory(email="cora@example.com", full_name="Cora Compliance", firm=alice.firm, roles=[Role.COMPLIANCE])


@pytest.fixture
def stranger_household(db):
    other = AdvisorFactory(user__email="zed@elsewhere.example", user__full_name="Zed Elsewhere")
    household = HouseholdFactory(advisor=other, firm=other.firm, name="Zanzibar Household")
    InvestmentAccountFactory(household=household, custodian_account_number="ZZ-999001")
    return household


def test_every_history_model_is_mapped_to_a_firm_or_declared_firmless():
    labels = set(audit.audit_models())
    unmapped = labels - set(audit.FIRM_SCOPE) - audit.FIRMLESS
    assert not unmapped, f"history models without a firm scope (add to audit.FIRM_SCOPE or FIRMLESS): {unmapped}"
    assert not (set(audit.FIRM_SCOPE) & audit.FIRMLESS)
    assert not (set(audit.FIRM_SCOPE) | audit.FIRMLESS) - labels, "a scope entry names no history model"


def test_every_firm_scope_is_a_valid_query_on_its_history_table(alice):
    for label, am in audit.audit_models().items():
        if label in audit.FIRM_SCOPE:
            am.history.objects.filter(audit.FIRM_SCOPE[label](alice.firm_id)).exists()  # raises on a bad path


def test_an_officer_sees_only_their_firms_rows(officer, alice_household, stranger_household):
    entries, _ = audit.audit_page(flt=audit.AuditFilter.for_user(officer), size=500)
    households = {e.object_id for e in entries if e.model == "accounts.Household"}
    accounts = {e.object_id for e in entries if e.model == "portfolios.InvestmentAccount"}
    assert str(alice_household.pk) in households
    assert str(stranger_household.pk) not in households
    assert not accounts & {str(a.pk) for a in stranger_household.investment_accounts.all()}


def test_a_superuser_sees_every_firm(officer, alice_household, stranger_household):
    officer.is_superuser = True
    entries, _ = audit.audit_page(flt=audit.AuditFilter.for_user(officer, model="accounts.Household"), size=500)
    assert {str(alice_household.pk), str(stranger_household.pk)} <= {e.object_id for e in entries}


def test_a_model_without_a_firm_scope_is_invisible_to_officers(officer, alice_household, monkeypatch):
    scope = dict(audit.FIRM_SCOPE)
    del scope["accounts.Household"]
    monkeypatch.setattr(permissions, "FIRM_SCOPE", scope)
    flt = audit.AuditFilter.for_user(officer, model="accounts.Household")
    assert audit.audit_page(flt=flt)[0] == []
    assert list(audit.audit_iter(flt=flt)) == []


def test_an_unscoped_filter_shows_only_firmless_models(alice_household):
    entries, _ = audit.audit_page(flt=audit.AuditFilter(), size=500)
    assert {e.model for e in entries} <= audit.FIRMLESS


def test_the_pages_api_and_csv_hide_another_firms_history(
    officer, alice_household, stranger_household, verified_client, api
):
    client = verified_client(officer)
    page = client.get(reverse("compliance:audit"))
    csv_body = b"".join(client.get(reverse("compliance:audit_csv")).streaming_content)
    listing = api(officer).get("/api/v1/audit/", {"page_size": 200})
    assert listing.status_code == 200
    for body in (page.content, csv_body, listing.content):
        assert b"Zanzibar" not in body and b"zed@elsewhere.example" not in body and b"ZZ-999001" not in body
    assert b"Alvarez Household" in csv_body


def test_deciding_another_firms_order_is_not_found(officer, verified_client, stranger_household, security):
    from trading.models import Order

    account = stranger_household.investment_accounts.get()
    order = Order.objects.create(
        account=account,
        security=security,
        side="buy",
        amount=Decimal("100"),
        estimated_price=Decimal("100.00"),
        status="pending_review",
        source="api",
        client_order_id="kr-stranger-1",
        created_by=stranger_household.advisor.user,
    )
    response = verified_client(officer).post(
        reverse("compliance:order_decide", args=[order.pk]), {"decision": "approve", "note": ""}
    )
    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == "pending_review"


ROWS = 100_000


def test_a_firm_scoped_page_over_100000_rows_has_a_fixed_query_count(
    officer, alice_household, stranger_household, django_assert_max_num_queries
):
    """100,000 household history rows, half of them another firm's (copies of the households'
    own history rows), paged for the officer with a fixed number of queries."""
    history = Household.history.model
    table = history._meta.db_table
    columns = [f.column for f in history._meta.concrete_fields if f.column not in ("history_id", "history_date")]
    cols = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} ({cols}, history_date)
            SELECT {cols}, now() - (g || ' seconds')::interval
            FROM {table} h CROSS JOIN generate_series(1, {ROWS // 2}) AS g
            WHERE h.history_id IN (
                SELECT min(history_id) FROM {table} WHERE id IN (%s, %s) GROUP BY id
            )
            """,
            [alice_household.pk, stranger_household.pk],
        )
    flt = audit.AuditFilter.for_user(officer, model="accounts.Household")
    started = time.perf_counter()
    with django_assert_max_num_queries(3):
        first, cursor = audit.audit_page(flt=flt, size=50)
    with django_assert_max_num_queries(3):
        second, _ = audit.audit_page(flt=flt, after=cursor, size=50)
    elapsed = time.perf_counter() - started
    assert len(first) == len(second) == 50
    assert {e.object_id for e in first + second} == {str(alice_household.pk)}
    assert elapsed < 5, elapsed


def test_the_audit_csv_neutralises_formula_cells(officer, alice_household, verified_client):
    """Issue 12: a household named like a spreadsheet formula is written as text, not a formula."""
    import csv
    import io

    alice_household.name = '=HYPERLINK("http://evil","x")'
    alice_household.notes = "+cmd|' /C calc'!A0"
    alice_household.save()
    body = b"".join(verified_client(officer).get(reverse("compliance:audit_csv")).streaming_content).decode()
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert '\'=HYPERLINK("http://evil","x")' in cells and "'+cmd|' /C calc'!A0" in cells
    formulas = [c for c in cells if c.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert [c for c in formulas if not c.lstrip("+-").replace(".", "", 1).isdigit()] == []


@pytest.mark.parametrize("bound", ["since", "until"])
def test_a_bound_the_time_zone_moves_past_year_9999_is_a_field_error(officer, api, bound, settings):
    """In a time zone behind UTC, 9999-12-31 23:59:59 is past the last datetime: a 400 naming the
    field (it was an OverflowError, a 500); a bound inside the range filters as before."""
    settings.TIME_ZONE = "America/New_York"
    client = api(officer)
    far = client.get("/api/v1/audit/", {bound: "9999-12-31T23:59:59"})
    assert far.status_code == 400
    assert far.json()[bound] == ["This date and time is out of range."]
    assert client.get("/api/v1/audit/", {bound: "9999-12-30T00:00:00"}).status_code == 200
