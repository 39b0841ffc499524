"""Reads of a user's own inbox. Every read is scoped to the user: another user's notification
is not found (404), whatever its id."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from notifications.models import Notification


def notification_list_for_user(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(user_id=user.pk).only(
        "id", "user_id", "kind", "title", "body", "url", "created_at", "read_at"
    )
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows.order_by("-id")


def notification_get_for_user(*, user: User, pk: int) -> Notification:
    """The user's own notification, or Http404."""
    found = Notification.objects.filter(user_id=user.pk, pk=pk).first()
    if found is None:
        raise Http404("No such notification.")
    return found


def unread_count(*, user: User) -> int:
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()
