"""Reads of a user's own inbox. Every read is scoped to the user: another user's notification
is not found (404), whatever its id."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404

from accounts.models import User
from kronos.db import CompiledRead
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


def _unread(user_id: int) -> QuerySet[Notification, tuple[int]]:
    """The user's unread count as a row (none when they have nothing unread)."""
    return (
        Notification.objects.filter(user_id=user_id, read_at__isnull=True)
        .order_by()
        .values("user_id")
        .annotate(unread=Count("pk"))
        .values_list("unread")
    )


#: The navigation's count, on every signed-in page: its SQL built once.
_UNREAD = CompiledRead(lambda _shape, user_id: _unread(user_id), int)


def unread_count(*, user: User) -> int:
    if not user.is_authenticated:
        return 0
    found = _UNREAD.rows(user.pk)
    return found[0][0] if found else 0
