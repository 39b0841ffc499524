"""Reading the events out: the replay of what a user may see, the shape integrators read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Max, QuerySet

from accounts.models import Event, User
from accounts.permissions import event_scope_q

_ENCODER = DjangoJSONEncoder()


def latest_position() -> int:
    return Event.objects.aggregate(p=Max("position"))["p"] or 0


def event_list_for_user(*, user: User, after: int = 0, kinds: Iterable[str] = (), limit: int = 100) -> list[Event]:
    """Published events `user` may see with a position above `after`, oldest first, at most
    `limit` (one query)."""
    qs: QuerySet[Event] = Event.objects.filter(position__gt=after).filter(event_scope_q(user=user))
    kinds = [k for k in kinds if k]
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return list(qs.order_by("position")[:limit])


def event_as_dict(event: Event) -> dict[str, Any]:
    """The shape integrators read, in the replay and as a webhook's body."""
    return {
        "id": event.public_id,
        "cursor": event.position,
        "type": event.kind,
        "occurred_at": _iso(event.occurred_at),
        "firm": event.firm_id,
        "household": event.household_id,
        "investor": event.investor_id,
        "account": event.account_id,
        "data": event.payload,
    }


def _iso(moment: datetime) -> str:
    return str(_ENCODER.default(moment))
