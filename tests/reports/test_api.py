"""POST/GET /api/v1/accounts/{id}/statements/: queueing with an Idempotency-Key, the list's
`period_end`, `status` and `url`, the PDF at `url` for those who may see the account only."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reports import services
from reports.models import Statement

pytestmark = pytest.mark.django_db


def _post(client, account_id, body, key):
    return client.post(
        f"/api/v1/accounts/{account_id}/statements/", body, format="json", headers={"Idempotency-Key": key}
    )


def test_post_queues_one_statement_and_a_repeat_replays_it(api, alice, statement_account, quarter):
    client = api(alice.user)
    first = _post(client, statement_account.pk, {"period_end": quarter.end.isoformat()}, "k-1")
    assert first.status_code == 202, first.json()
    body = first.json()
    assert (body["period_end"], body["status"], body["url"]) == (quarter.end.isoformat(), "queued", None)
    again = _post(client, statement_account.pk, {"period_end": quarter.end.isoformat()}, "k-1")
    assert again.status_code == 202 and again.json() == body and again["Idempotent-Replayed"] == "true"
    other_body = _post(client, statement_account.pk, {"period_end": quarter.start.isoformat()}, "k-1")
    assert other_body.status_code == 422
    # A new key for the same period end is the same statement (one per account and period end).
    assert (
        _post(client, statement_account.pk, {"period_end": quarter.end.isoformat()}, "k-2").json()["id"] == body["id"]
    )
    assert Statement.objects.filter(account=statement_account).count() == 1


def test_post_without_a_key_or_with_a_bad_date_is_refused_with_the_field(api, alice, statement_account):
    client = api(alice.user)
    assert client.post(f"/api/v1/accounts/{statement_account.pk}/statements/", {}, format="json").status_code == 400
    bad = _post(client, statement_account.pk, {"period_end": "2026-02-30"}, "k-3")
    assert bad.status_code == 400 and "period_end" in bad.json()
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    future = _post(client, statement_account.pk, {"period_end": tomorrow}, "k-4")
    assert future.status_code == 400 and "period_end" in future.json()
    today = _post(client, statement_account.pk, {"period_end": timezone.localdate().isoformat()}, "k-5")
    assert today.status_code == 202  # today is the last day allowed
    unknown = _post(client, statement_account.pk, {"period_end": "2026-01-01", "extra": 1}, "k-6")
    assert unknown.status_code == 400


def test_the_list_gives_period_end_status_and_a_url_that_answers_the_pdf(
    api, alice, charlie, statement_account, quarter
):
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    services.statement_generate(statement_id=statement.pk)
    listed = api(charlie, "read").get(f"/api/v1/accounts/{statement_account.pk}/statements/").json()["results"]
    assert [(s["period_end"], s["status"]) for s in listed] == [(quarter.end.isoformat(), "ready")]
    url = listed[0]["url"]
    pdf = api(charlie, "read").get(url)
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    asked = api(charlie, "read").get(url, HTTP_ACCEPT="application/pdf")
    assert asked.status_code == 200 and asked["Content-Type"] == "application/pdf"


def test_others_get_404_for_the_list_the_post_and_the_pdf(api, alice, bob, stranger, statement_account, quarter):
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    services.statement_generate(statement_id=statement.pk)
    base = f"/api/v1/accounts/{statement_account.pk}/statements/"
    for user in (bob.user, stranger):
        client = api(user)
        assert client.get(base).status_code == 404
        assert client.get(f"{base}{statement.pk}/pdf/").status_code == 404
        assert (
            _post(client, statement_account.pk, {"period_end": quarter.end.isoformat()}, f"x-{user.pk}").status_code
            == 404
        )


def test_operations_of_the_firm_may_read_the_pdf(api, ops, alice, statement_account, quarter):
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    services.statement_generate(statement_id=statement.pk)
    response = api(ops, "read").get(f"/api/v1/accounts/{statement_account.pk}/statements/{statement.pk}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def test_a_statement_not_ready_has_no_pdf_yet(api, alice, statement_account, quarter):
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    response = api(alice.user).get(f"/api/v1/accounts/{statement_account.pk}/statements/{statement.pk}/pdf/")
    assert response.status_code == 404


def test_the_list_reads_a_fixed_number_of_queries(
    api, alice, statement_account, quarter, django_assert_max_num_queries
):
    for months in range(4):
        day = quarter.end - timedelta(days=31 * months)
        services.statement_request(account=statement_account, period_end=day, acting_user=alice.user)
    client = api(alice.user)
    with django_assert_max_num_queries(12):
        response = client.get(f"/api/v1/accounts/{statement_account.pk}/statements/")
    assert response.json()["count"] == 4
