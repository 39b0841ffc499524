"""Preferences respected (off, in-app, immediate, digest) and the emails: at once, one each;
the digest, one email per user with what accrued, and nothing the day after."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from notifications.errors import NotificationsError
from notifications.models import Notification
from notifications.services import (
    notifications_email_digest,
    notifications_email_immediate,
    preferences_for,
    preferences_save,
)
from tests.notifications.conftest import emit_for_account, publish, told

pytestmark = pytest.mark.django_db


def reject(account, reason="Not enough cash"):
    emit_for_account(
        "order.updated",
        account,
        {"order": 1, "symbol": "VTI", "side": "sell", "quantity": "2", "status": "rejected", "status_reason": reason},
    )


def test_by_default_a_rejection_is_emailed_at_once(firms):
    reject(firms.alice_account)
    publish()
    assert Notification.objects.get().delivery == "immediate"
    sent = notifications_email_immediate()
    assert (sent.emails, sent.notifications) == (1, 1)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == "[Kronos] Order rejected: Sell 2 VTI"
    assert "Alvarez Joint: Not enough cash" in message.body
    assert f"/accounts/{firms.alice_account.pk}/trading/" in message.body
    assert notifications_email_immediate().emails == 0  # sent once
    assert len(mail.outbox) == 1


def test_a_fan_out_with_immediate_emails_queues_the_sender_after_commit(firms, django_capture_on_commit_callbacks):
    reject(firms.alice_account)
    with django_capture_on_commit_callbacks() as callbacks:
        publish()
    assert any(getattr(c, "_relay_key", (None, None))[1] == "notifications.send_emails" for c in callbacks)


def test_off_means_no_notification_at_all(firms):
    preferences_save(user=firms.alice.user, choices={"order_rejected": "off"}, acting_user=firms.alice.user)
    reject(firms.alice_account)
    publish()
    assert not Notification.objects.exists()


def test_in_app_only_is_in_the_inbox_and_never_emailed(firms):
    preferences_save(user=firms.alice.user, choices={"order_rejected": "in_app"}, acting_user=firms.alice.user)
    reject(firms.alice_account)
    publish()
    assert told("order_rejected") == {"alice@example.com"}
    assert notifications_email_immediate().emails == 0
    assert notifications_email_digest().emails == 0
    assert not mail.outbox


def test_one_users_preference_is_not_anothers(firms):
    preferences_save(user=firms.bob.user, choices={"order_rejected": "off"}, acting_user=firms.bob.user)
    reject(firms.alice_account)
    reject(firms.bob_account)
    publish()
    assert told() == {"alice@example.com"}


def test_the_digest_sends_one_email_with_every_item_then_nothing_the_next_day(firms):
    preferences_save(user=firms.alice.user, choices={"order_rejected": "digest"}, acting_user=firms.alice.user)
    for reason in ("Reason one", "Reason two", "Reason three"):
        reject(firms.alice_account, reason)
    reject(firms.bob_account, "Bob's reason")  # bob keeps the default: at once, not in a digest
    publish()
    assert notifications_email_immediate().emails == 1  # bob's
    mail.outbox.clear()

    sent = notifications_email_digest()
    assert (sent.emails, sent.notifications) == (1, 3)
    assert len(mail.outbox) == 1
    digest = mail.outbox[0]
    assert digest.to == ["alice@example.com"]
    assert digest.subject == "[Kronos] 3 updates today"
    assert [line for line in digest.body.splitlines() if line.startswith("- ")] == ["- Order rejected: Sell 2 VTI"] * 3
    for reason in ("Reason one", "Reason two", "Reason three"):
        assert reason in digest.body
    assert "Bob's reason" not in digest.body

    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert notifications_email_digest().emails == 0
    assert len(mail.outbox) == 1


def test_a_digest_item_arriving_the_next_day_goes_in_the_next_digest_alone(firms):
    preferences_save(user=firms.alice.user, choices={"order_rejected": "digest"}, acting_user=firms.alice.user)
    reject(firms.alice_account, "First")
    publish()
    assert notifications_email_digest().notifications == 1
    reject(firms.alice_account, "Second")
    publish()
    sent = notifications_email_digest()
    assert (sent.emails, sent.notifications) == (1, 1)
    assert "Second" in mail.outbox[-1].body and "First" not in mail.outbox[-1].body
    assert mail.outbox[-1].subject == "[Kronos] 1 update today"


def test_preferences_default_per_kind_and_are_validated(firms):
    user = firms.alice.user
    assert preferences_for(user=user)["drift_breach"] == "digest"
    assert preferences_for(user=user)["order_rejected"] == "immediate"
    with pytest.raises(NotificationsError, match="Unknown delivery"):
        preferences_save(user=user, choices={"drift_breach": "carrier-pigeon"}, acting_user=user)
    with pytest.raises(NotificationsError, match="Unknown notification kind"):
        preferences_save(user=user, choices={"lunch": "off"}, acting_user=user)
    with pytest.raises(NotificationsError, match="only your own"):
        preferences_save(user=user, choices={"drift_breach": "off"}, acting_user=firms.bob.user)
    assert preferences_for(user=user)["drift_breach"] == "digest"


def test_email_settings_come_from_an_email_url():
    import environ

    parsed = environ.Env.email_url_config("smtp+tls://mailer:s3cret@smtp.example.com:587")
    assert parsed["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (parsed["EMAIL_HOST"], parsed["EMAIL_PORT"], parsed["EMAIL_USE_TLS"]) == ("smtp.example.com", 587, True)


def test_the_daily_digest_is_scheduled_every_morning_in_the_firms_time_zone():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("notifications.migrations.0002_schedule_daily_digest")
    migration.schedule(apps, None)
    migration.schedule(apps, None)  # again: still one
    (task,) = PeriodicTask.objects.filter(task="notifications.send_digests")
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week) == ("7", "0", "*")
    assert str(task.crontab.timezone) == "America/New_York"
