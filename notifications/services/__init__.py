"""The notifications' writes: the fan-out of published events, the emails, and a user's own
inbox and preferences. Other apps import this package, not its modules."""

from notifications.services.email import Sent, notifications_email_digest, notifications_email_immediate
from notifications.services.fan_out import (
    ROUTES,
    notifications_fan_out,
    notifications_fan_out_again,
    subscribers_register,
)
from notifications.services.inbox import (
    notification_mark_read,
    notifications_mark_all_read,
    preferences_for,
    preferences_save,
)

__all__ = [
    "ROUTES",
    "Sent",
    "notification_mark_read",
    "notifications_email_digest",
    "notifications_email_immediate",
    "notifications_fan_out",
    "notifications_fan_out_again",
    "notifications_mark_all_read",
    "preferences_for",
    "preferences_save",
    "subscribers_register",
]
