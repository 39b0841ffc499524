"""The inbox page, the navigation's unread count, mark read (htmx and plain forms), the
preferences page, and the API — each user's own notifications only."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Event, Firm
from notifications.models import Notification
from notifications.selectors import unread_count

pytestmark = pytest.mark.django_db


def notify(user, n=1, *, title="Order rejected: Sell 2 VTI", read=False):
    firm_id = user.firm_id or Firm.objects.values_list("pk", flat=True).first()
    rows = [
        Notification(
            user=user,
            event=Event.objects.create(kind="order.updated", firm_id=firm_id, payload={}),
            kind="order_rejected",
            title=f"{title} #{i}",
            body="Alvarez Joint: Not enough cash",
            url="/book/",
            delivery="in_app",
        )
        for i in range(n)
    ]
    made = Notification.objects.bulk_create(rows)
    if read:
        Notification.objects.filter(pk__in=[r.pk for r in made]).update(read_at=timezone.now())
    return made


@pytest.fixture
def signed_in(client):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def sign_in(user):
        client.force_login(user)
        device, _ = TOTPDevice.objects.get_or_create(user=user, name="t", defaults={"confirmed": True})
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
        return client

    return sign_in


def nav_count(html: str) -> int:
    found = re.search(r'data-unread="(\d+)"', html)
    return int(found.group(1)) if found else 0


def test_the_unread_count_counts_only_the_users_unread(firms):
    notify(firms.alice.user, 3)
    notify(firms.alice.user, 2, read=True)
    notify(firms.bob.user, 4)
    assert unread_count(user=firms.alice.user) == 3
    assert unread_count(user=firms.bob.user) == 4
    assert unread_count(user=firms.charlie) == 0


def test_every_signed_in_page_shows_the_unread_count_in_the_navigation(firms, signed_in):
    notify(firms.charlie, 2)
    client = signed_in(firms.charlie)
    page = client.get("/households/").content.decode()
    assert nav_count(page) == 2
    assert 'id="nav-inbox"' in page


def test_no_count_without_unread(firms, signed_in):
    notify(firms.charlie, 1, read=True)
    page = signed_in(firms.charlie).get("/notifications/").content.decode()
    assert 'id="nav-inbox"' in page and nav_count(page) == 0


def test_the_inbox_lists_the_users_own_newest_first(firms, signed_in):
    mine = notify(firms.alice.user, 2)
    notify(firms.bob.user, 1, title="Bennett secret")
    page = signed_in(firms.alice.user).get("/notifications/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Bennett secret" not in body
    assert body.index(f'data-notification="{mine[1].pk}"') < body.index(f'data-notification="{mine[0].pk}"')
    assert "Show unread only" in body


def test_the_inbox_page_costs_the_same_queries_for_3_or_60_notifications(firms, signed_in):
    client = signed_in(firms.alice.user)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/notifications/").status_code == 200
        return len(ctx.captured_queries)

    notify(firms.alice.user, 3)
    small = count()
    notify(firms.alice.user, 57)
    assert count() == small


def test_mark_read_without_javascript_redirects_back_and_the_count_drops(firms, signed_in):
    a, b = notify(firms.alice.user, 2)
    client = signed_in(firms.alice.user)
    answer = client.post(f"/notifications/{a.pk}/read/", {"page": "1"})
    assert answer.status_code == 302
    assert answer["Location"] == "/notifications/?page=1"
    a.refresh_from_db()
    assert a.read_at is not None
    assert nav_count(client.get("/notifications/").content.decode()) == 1


def test_mark_read_with_htmx_answers_the_row_and_the_new_count(firms, signed_in):
    a, _b, _c = notify(firms.alice.user, 3)
    answer = signed_in(firms.alice.user).post(f"/notifications/{a.pk}/read/", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    body = answer.content.decode()
    assert f'id="notification-{a.pk}" class="read"' in body
    assert "Mark read" not in body
    assert 'hx-swap-oob="true"' in body and nav_count(body) == 2


def test_mark_all_read(firms, signed_in):
    notify(firms.alice.user, 3)
    notify(firms.bob.user, 2)
    client = signed_in(firms.alice.user)
    answer = client.post("/notifications/read-all/")
    assert answer.status_code == 302
    assert unread_count(user=firms.alice.user) == 0
    assert unread_count(user=firms.bob.user) == 2
    htmx = client.post("/notifications/read-all/", headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx["HX-Refresh"]) == (204, "true")


def test_another_users_notification_cannot_be_marked_read(firms, signed_in):
    (theirs,) = notify(firms.bob.user)
    answer = signed_in(firms.alice.user).post(f"/notifications/{theirs.pk}/read/")
    assert answer.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_inbox_needs_a_login(client):
    assert client.get("/notifications/").status_code == 302
    assert client.post("/notifications/1/read/").status_code == 302


def test_the_preferences_page_shows_and_saves_each_kind(firms, signed_in):
    client = signed_in(firms.operations)
    page = client.get("/notifications/preferences/").content.decode()
    assert '<option value="digest" selected>' in page  # drift breaches default to the digest
    assert "Failed jobs" in page
    answer = client.post("/notifications/preferences/", {"job_failed": "digest", "drift_breach": "off"})
    assert answer.status_code == 302
    from notifications.services import preferences_for

    chosen = preferences_for(user=firms.operations)
    assert (chosen["job_failed"], chosen["drift_breach"], chosen["order_rejected"]) == ("digest", "off", "immediate")


def test_a_bad_preference_is_a_form_error_not_a_500(firms, signed_in):
    answer = signed_in(firms.operations).post("/notifications/preferences/", {"job_failed": "telegram"})
    assert answer.status_code == 400
    assert "Unknown delivery" in answer.content.decode()


# --- the API ---------------------------------------------------------------------------------


def test_the_api_lists_the_users_own_with_the_contract_fields(firms, api):
    a, b = notify(firms.charlie, 2)
    notify(firms.alice.user, 1)
    answer = api(firms.charlie, "read").get("/api/v1/notifications/")
    assert answer.status_code == 200
    data = answer.json()
    assert data["count"] == 2
    assert [r["id"] for r in data["results"]] == [b.pk, a.pk]
    assert set(data["results"][0]) == {"id", "kind", "title", "body", "url", "created_at", "read_at", "is_read"}
    assert data["results"][0]["is_read"] is False


def test_the_api_marks_one_read_and_the_unread_filter_counts_the_rest(firms, api):
    a, _b, _c = notify(firms.charlie, 3)
    client = api(firms.charlie)
    answer = client.post(f"/api/v1/notifications/{a.pk}/read/")
    assert answer.status_code == 200
    assert answer.json()["is_read"] is True and answer.json()["read_at"]
    again = client.post(f"/api/v1/notifications/{a.pk}/read/")
    assert again.json()["read_at"] == answer.json()["read_at"]  # idempotent
    assert client.get("/api/v1/notifications/?unread=true").json()["count"] == 2


def test_the_api_answers_404_for_another_users_notification(firms, api):
    (theirs,) = notify(firms.alice.user)
    answer = api(firms.charlie).post(f"/api/v1/notifications/{theirs.pk}/read/")
    assert answer.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert api(firms.zed.user).get("/api/v1/notifications/").json()["count"] == 0


def test_the_api_refuses_bad_input_with_a_400(firms, api):
    answer = api(firms.charlie).get("/api/v1/notifications/?unread=maybe")
    assert answer.status_code == 400
    assert "unread" in answer.json()


def test_marking_read_needs_the_trade_scope(firms, api):
    (mine,) = notify(firms.charlie)
    assert api(firms.charlie, "read").post(f"/api/v1/notifications/{mine.pk}/read/").status_code == 403
