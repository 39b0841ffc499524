"""Thin Celery tasks over the notification services."""

from celery import shared_task

from notifications.services import notifications_email_digest, notifications_email_immediate


@shared_task(name="notifications.send_emails", acks_late=True)
def send_emails() -> dict[str, int]:
    """Email the due immediate notifications (queued after each fan-out that made some)."""
    sent = notifications_email_immediate()
    return {"emails": sent.emails, "notifications": sent.notifications}


@shared_task(name="notifications.send_digests", acks_late=True)
def send_digests() -> dict[str, int]:
    """The daily digest: one email per user with what accrued (beat, every morning)."""
    sent = notifications_email_digest()
    return {"emails": sent.emails, "notifications": sent.notifications}
