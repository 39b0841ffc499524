"""Housekeeping of logins and API credentials: what has expired goes."""

from datetime import datetime, timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from accounts.models import (
    IdempotencyKey,
)

IDEMPOTENCY_KEY_RETENTION = timedelta(hours=48)


@transaction.atomic
def expired_credentials_clear(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what has expired: access and refresh tokens, grants, idempotency keys older than
    their retention (48 hours, above the promised 24) and lockout attempts past the cool-off.
    Safe to run any number of times; returns how many rows of each kind went."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    AccessToken = get_access_token_model()
    counts["refresh_tokens"] = get_refresh_token_model().objects.filter(access_token__expires__lt=now).delete()[0]
    counts["access_tokens"] = AccessToken.objects.filter(expires__lt=now, refresh_token__isnull=True).delete()[0]
    counts["grants"] = get_grant_model().objects.filter(expires__lt=now).delete()[0]
    counts["idempotency_keys"] = IdempotencyKey.objects.filter(created_at__lt=now - IDEMPOTENCY_KEY_RETENTION).delete()[
        0
    ]
    cooloff = timedelta(hours=float(settings.AXES_COOLOFF_TIME))
    counts["lockout_attempts"] = AccessAttempt.objects.filter(attempt_time__lt=now - cooloff).delete()[0]
    return counts
