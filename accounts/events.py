"""The events outbox as other apps import it (`from accounts.events import event_emit`): the
writing is `accounts.services.events`, the reading `accounts.selectors.events`, the scope rule
`accounts.permissions.event_scope_q` and the kinds `accounts.models.KINDS`. Kept so other apps'
imports hold while they move; new code imports `accounts.services`."""

from accounts.models import KINDS
from accounts.permissions import event_scope_q
from accounts.selectors.events import event_as_dict, event_list_for_user, latest_position
from accounts.services.events import EventSpec, event_emit, events_emit_bulk, events_publish

__all__ = [
    "KINDS",
    "EventSpec",
    "event_as_dict",
    "event_emit",
    "event_list_for_user",
    "event_scope_q",
    "events_emit_bulk",
    "events_publish",
    "latest_position",
]
