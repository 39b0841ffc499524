"""The event subscribers: code a higher app runs on every published event of a kind, without
`accounts` importing that app (see kronos/checks_registry.py for the slots).

The publisher (`accounts.services.events_publish`) calls each subscriber with the events of its
kind that it has just numbered, in the same transaction, each subscriber inside its own savepoint:
a subscriber that raises is logged and rolled back alone, and never holds up the outbox. Events
are published once, but a subscriber must still be idempotent (an event may be handed to it again
by a replay or a test), e.g. by a unique constraint on what it writes per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from kronos.checks_registry import Slot

if TYPE_CHECKING:
    from accounts.models import Event


class EventSubscriber(Protocol):
    """Handles the published events of one kind (`kind`), a batch at a time."""

    @property
    def kind(self) -> str: ...

    def __call__(self, *, events: Sequence[Event]) -> None: ...


EVENT_SUBSCRIBERS: Slot[EventSubscriber] = Slot(
    "accounts.event_subscribers",
    required=(),
    doc="code run on every published event of a kind (the notifications' fan-out).",
)
