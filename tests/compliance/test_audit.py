import csv
import io

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import Role
from compliance import audit
from compliance.models import WatchlistEntry
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

ROWS = 100_000


@pytest.fixture
def officer(alice):
    return UserFactory(email="cora@example.com", full_name="Cora Compliance", firm=alice.firm, roles=[Role.COMPLIANCE])


@pytest.fixture
def big_history(officer):
    """100,000 history rows of 1,000 watch list entries (100 versions each), inserted in SQL."""
    table = WatchlistEntry.history.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (id, name, aliases, date_of_birth, country, list_name, is_active, imported_at,
                                 history_date, history_change_reason, history_type, history_user_id)
            SELECT (g / 100) + 1, 'Person ' || (g / 100), '', NULL, 'RU', 'OFAC ' || (g %% 100), true, now(),
                   now() - (g || ' seconds')::interval, 'bulk', CASE WHEN g %% 100 = 99 THEN '+' ELSE '~' END, %s
            FROM generate_series(0, {ROWS - 1}) AS g
            """,
            [officer.pk],
        )
    return table


def test_the_explorer_pages_100000_rows_with_a_fixed_query_count(big_history, officer, django_assert_max_num_queries):
    flt = audit.AuditFilter(model="compliance.WatchlistEntry")
    with django_assert_max_num_queries(3):
        first, cursor = audit.audit_page(flt=flt, size=50)
    assert len(first) == 50 and cursor
    with django_assert_max_num_queries(3):
        second, _ = audit.audit_page(flt=flt, after=cursor, size=50)
    assert second[0].date <= first[-1].date
    assert not {e.history_id for e in first} & {e.history_id for e in second}
    changed = first[0]
    assert changed.kind == "changed" and changed.user == "cora@example.com"
    assert [c[0] for c in changed.changes] == ["list_name"]  # only the list name differs from the row before
    before, after = changed.changes[0][1:]
    assert before != after and before.startswith("OFAC") and after.startswith("OFAC")


def test_the_explorer_page_over_every_model_has_a_bounded_query_count(big_history, django_assert_max_num_queries):
    n = len(audit.audit_models())
    with django_assert_max_num_queries(2 * n + 1):
        entries, cursor = audit.audit_page(flt=audit.AuditFilter(), size=50)
    assert len(entries) == 50 and cursor


def test_the_explorer_filters_by_object_user_date_and_field(big_history, officer):
    entries, _ = audit.audit_page(flt=audit.AuditFilter(model="compliance.WatchlistEntry", object_id="7"), size=500)
    assert len(entries) == 100 and {e.object_id for e in entries} == {"7"}
    assert audit.audit_page(flt=audit.AuditFilter(model="compliance.WatchlistEntry", user_id=officer.pk + 999))[0] == []
    by_field, _ = audit.audit_page(
        flt=audit.AuditFilter(model="compliance.WatchlistEntry", object_id="7", field="country"), size=500
    )
    assert [e.kind for e in by_field] == ["created"]  # the country never changed after creation


def test_the_csv_export_streams_every_row(big_history, officer, verified_client):
    client = verified_client(officer)
    response = client.get(reverse("compliance:audit_csv"), {"model": "compliance.WatchlistEntry"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == audit.CSV_HEADER
    assert len(rows) > ROWS  # one line per changed field, created rows have several


def test_the_explorer_page_shows_before_and_after(big_history, officer, verified_client):
    response = verified_client(officer).get(
        reverse("compliance:audit"), {"model": "compliance.WatchlistEntry", "object_id": "3"}
    )
    assert response.status_code == 200
    assert b"OFAC" in response.content and b"cora@example.com" in response.content


def test_only_compliance_officers_read_the_audit_trail(alice, verified_client):
    assert verified_client(alice.user).get(reverse("compliance:audit")).status_code == 403


@pytest.fixture
def small_history(officer):
    """40 history rows: watch list entries 1..10, four versions each."""
    table = WatchlistEntry.history.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (id, name, aliases, date_of_birth, country, list_name, is_active, imported_at,
                                 history_date, history_change_reason, history_type, history_user_id)
            SELECT (g / 4) + 1, 'Person ' || (g / 4), '', NULL, 'RU', 'OFAC ' || (g %% 4), true, now(),
                   now() - (g || ' seconds')::interval, 'bulk', CASE WHEN g %% 4 = 3 THEN '+' ELSE '~' END, %s
            FROM generate_series(0, 39) AS g
            """,
            [officer.pk],
        )
    return table


def _csv_entries(response):
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == audit.CSV_HEADER
    return {(r[0], r[1], r[2]) for r in rows[1:]}  # (date, model, object id): one entry, whatever its fields


def test_the_export_link_of_a_filtered_table_exports_exactly_the_entries_it_shows(
    small_history, officer, verified_client
):
    import html
    import re

    client = verified_client(officer)
    # The filter as the page sends it: htmx swaps the table alone, the page head stays as it was.
    table = client.get(
        reverse("compliance:audit"), {"model": "compliance.WatchlistEntry", "object_id": "3"}, HTTP_HX_REQUEST="true"
    )
    shown = re.findall(rb"<td>compliance\.WatchlistEntry #(\d+)</td>", table.content)
    assert shown == [b"3"] * 4
    link = re.search(rb'id="audit-export" href="([^"]+)"', table.content)
    assert link, "the swapped table carries its export link"
    response = client.get(html.unescape(link.group(1).decode()))
    assert response.status_code == 200 and response.streaming
    entries = _csv_entries(response)
    assert len(entries) == 4 and {e[2] for e in entries} == {"3"}


def test_the_full_page_export_link_carries_the_filter_too(small_history, officer, verified_client):
    page = verified_client(officer).get(
        reverse("compliance:audit"), {"model": "compliance.WatchlistEntry", "object_id": "3"}
    )
    assert b'href="/compliance/audit.csv?model=compliance.WatchlistEntry&amp;object_id=3"' in page.content


def test_an_invalid_filter_exports_nothing_instead_of_everything(small_history, officer, verified_client):
    client = verified_client(officer)
    response = client.get(reverse("compliance:audit_csv"), {"model": "compliance.WatchlistEntry", "since": "yesterday"})
    assert response.status_code == 400
    assert b"Invalid filter" in response.content and b"since" in response.content
    page = client.get(reverse("compliance:audit"), {"model": "compliance.WatchlistEntry", "since": "yesterday"})
    assert page.status_code == 400 and b"Enter a valid date/time." in page.content
    assert b"WatchlistEntry #" not in page.content and b'id="audit-export"' not in page.content
