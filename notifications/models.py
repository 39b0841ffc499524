"""The in-app inbox (one row per event and user) and each user's choice per notification kind."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from notifications.catalogue import Delivery


class Notification(models.Model):
    """One event told to one user: in their inbox until read, and emailed (at once or in the
    digest) when their preference for the kind says so. Never twice for the same event and user
    (the unique constraint is what makes the fan-out idempotent)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey("accounts.Event", on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True, help_text="Where the notification leads (a path of the site).")
    delivery = models.CharField(
        max_length=12, choices=Delivery.choices, help_text="The user's preference when it was made."
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True, help_text="When its email (or digest) was sent.")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="notifications_once_per_event_and_user"),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="notifications_inbox"),
            models.Index(fields=["user"], name="notifications_unread", condition=Q(read_at__isnull=True)),
            models.Index(
                fields=["delivery", "user"],
                name="notifications_email_due",
                condition=Q(emailed_at__isnull=True, delivery__in=["immediate", "digest"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.user_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(models.Model):
    """A user's choice for one kind; without a row the kind's default applies (catalogue.KINDS)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=40)
    delivery = models.CharField(max_length=12, choices=Delivery.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notifications_one_preference_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.delivery}"
