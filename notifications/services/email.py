"""Emails of notifications: at once (`notifications_email_immediate`, queued after the commit of
a fan-out) and the daily digest (`notifications_email_digest`, a beat job): one email per user
with every digest notification that accrued since the last one.

Each notification is emailed at most once: a sender claims the rows it will send under a row
lock (SKIP LOCKED, so two workers share the work) and marks them in the same transaction; a
failed send rolls the mark back and the next run retries. Sent through Django's mail framework,
so the backend is configuration (settings: `EMAIL_BACKEND`, `EMAIL_URL`, `ANYMAIL_*`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from notifications.catalogue import Delivery
from notifications.models import Notification

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Sent:
    emails: int
    notifications: int


def _due(delivery: str) -> object:
    rows = (
        Notification.objects.filter(delivery=delivery, emailed_at__isnull=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user")
        .order_by("user_id", "id")
    )
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return rows


def _absolute(url: str) -> str:
    return settings.SITE_URL.rstrip("/") + url if url.startswith("/") else url


def _message(user: object, items: list[Notification], *, digest: bool) -> EmailMessage:
    subject = (
        f"[Kronos] {len(items)} update{'s' if len(items) != 1 else ''} today"
        if digest
        else f"[Kronos] {items[0].title}"
    )
    body = render_to_string(
        "notifications/email.txt",
        {
            "user": user,
            "digest": digest,
            "items": [(n, _absolute(n.url)) for n in items],
            "inbox_url": _absolute("/notifications/"),
            "preferences_url": _absolute("/notifications/preferences/"),
        },
    )
    return EmailMessage(subject, body, None, [user.email])  # type: ignore[attr-defined]


def notifications_email_immediate(*, limit: int = BATCH) -> Sent:
    """Email each due immediate notification on its own (one email per notification)."""
    with transaction.atomic():
        rows = list(_due(Delivery.IMMEDIATE)[:limit])  # type: ignore[index]
        if not rows:
            return Sent(0, 0)
        mail = get_connection()
        sent = mail.send_messages([_message(n.user, [n], digest=False) for n in rows]) or 0
        Notification.objects.filter(pk__in=[n.pk for n in rows]).update(emailed_at=timezone.now())
    return Sent(sent, len(rows))


def notifications_email_digest() -> Sent:
    """One email per user with every digest notification not yet emailed; nothing for a user
    with none (so the day after a digest, without new ones, sends nothing)."""
    with transaction.atomic():
        by_user: dict[int, list[Notification]] = defaultdict(list)
        for n in _due(Delivery.DIGEST):  # type: ignore[attr-defined]
            by_user[n.user_id].append(n)
        if not by_user:
            return Sent(0, 0)
        messages = [_message(items[0].user, items, digest=True) for items in by_user.values()]
        sent = get_connection().send_messages(messages) or 0
        ids = [n.pk for items in by_user.values() for n in items]
        Notification.objects.filter(pk__in=ids).update(emailed_at=timezone.now())
    return Sent(sent, len(ids))
