"""The demo firm's users find notifications in their inbox from the first page."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_the_demo_advisor_has_notifications_and_sees_the_count(verified_client):
    call_command("seed_demo", stdout=StringIO())
    advisor = User.objects.get(email="advisor@demo.kronos")
    mine = Notification.objects.filter(user=advisor)
    assert mine.exists()
    assert not Notification.objects.filter(user__firm__isnull=False).exclude(user__firm=advisor.firm_id).exists()
    page = verified_client(advisor).get("/notifications/")
    assert page.status_code == 200
    assert f'data-unread="{mine.filter(read_at__isnull=True).count()}"' in page.content.decode()
    before = Notification.objects.count()
    call_command("seed_demo", stdout=StringIO())  # again: nothing more
    assert Notification.objects.count() == before
