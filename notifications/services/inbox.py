"""A user's own writes: marking notifications read and choosing deliveries per kind."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from kronos import readcache
from notifications.catalogue import KINDS, Delivery
from notifications.errors import NotificationsError
from notifications.models import Notification, NotificationPreference


def notification_mark_read(*, notification: Notification, acting_user: User) -> Notification:
    """Mark one of `acting_user`'s notifications read (again: nothing changes). Another user's is
    refused (callers find it through `notification_get_for_user`, so they answer 404 first)."""
    if notification.user_id != acting_user.pk:
        raise NotificationsError("Not your notification.", code="not_found", status_code=404)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=notification.read_at)
        _touch_inbox(acting_user)
    return notification


def notifications_mark_all_read(*, acting_user: User) -> int:
    """Mark every unread notification of `acting_user` read; returns how many were."""
    count = Notification.objects.filter(user=acting_user, read_at__isnull=True).update(read_at=timezone.now())
    _touch_inbox(acting_user)
    return count


def _touch_inbox(user: User) -> None:
    """The unread count in the navigation of a staff member's cached pages changed."""
    if user.firm_id is not None:
        readcache.touch(readcache.firm_scope(user.firm_id))


@transaction.atomic
def preferences_save(*, user: User, choices: Mapping[str, str], acting_user: User) -> dict[str, str]:
    """Store `user`'s delivery per kind (kinds left out keep theirs). Validated: a user sets only
    their own; every kind and delivery is known."""
    if user.pk != acting_user.pk:
        raise NotificationsError("You set only your own preferences.", code="forbidden", status_code=403)
    for kind, delivery in choices.items():
        if kind not in KINDS:
            raise NotificationsError(f"Unknown notification kind {kind!r}.", field=kind)
        if delivery not in Delivery.values:
            raise NotificationsError(f"Unknown delivery {delivery!r}.", field=kind)
    for kind, delivery in choices.items():
        NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"delivery": delivery})
    return preferences_for(user=user)


def preferences_for(*, user: User) -> dict[str, str]:
    """Every kind with `user`'s delivery for it (the kind's default where they chose none)."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {key: chosen.get(key, kind.default) for key, kind in KINDS.items()}
