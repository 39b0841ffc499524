"""Housekeeping jobs for logins and API credentials."""

from celery import shared_task

from accounts.services.credentials import expired_credentials_clear
from accounts.services.events import events_publish
from accounts.services.webhook_delivery import deliveries_send


@shared_task(name="accounts.clear_expired_credentials", acks_late=True)
def clear_expired_credentials() -> dict[str, int]:
    """Delete expired OAuth tokens, idempotency keys past retention and stale lockout records."""
    return expired_credentials_clear()


@shared_task(name="accounts.events_relay", acks_late=True)
def events_relay() -> dict[str, int]:
    """Publish committed events (their cursor positions and webhook deliveries), then send the
    due deliveries. Queued after every commit that wrote events; beat runs it every 10 s too."""
    published = events_publish()
    sent = deliveries_send()
    return {"published": len(published), "delivered": sent.delivered, "retried": sent.retried, "failed": sent.failed}


@shared_task(name="accounts.webhooks_deliver", acks_late=True)
def webhooks_deliver() -> dict[str, int]:
    """Send the due webhook deliveries (retries come due by their backoff)."""
    sent = deliveries_send()
    return {"delivered": sent.delivered, "retried": sent.retried, "failed": sent.failed}
