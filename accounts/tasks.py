"""Housekeeping jobs for logins and API credentials."""

from celery import shared_task

from accounts import services


@shared_task(name="accounts.clear_expired_credentials", acks_late=True)
def clear_expired_credentials() -> dict[str, int]:
    """Delete expired OAuth tokens, idempotency keys past retention and stale lockout records."""
    return services.expired_credentials_clear()
