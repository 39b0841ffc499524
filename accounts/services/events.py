"""Events out: the outbox of changes integrators care about, its cursor and its scope.

Writing. A service that makes a change calls `event_emit(...)` (or `events_emit_bulk(...)`
for a bulk write) inside its own transaction: the event row commits or rolls back with the
change, so there is never an event without its change nor a change without its event.

The cursor. Event ids come from a sequence at INSERT time, so they do not commit in order: a
transaction that took id 10 may commit after one that took id 11, and a reader that had
served 11 and moved its cursor past it would never see 10. So the cursor is not the id but
`position`, assigned after the commit by the publisher (`events_publish`): it runs one at a
time (a PostgreSQL advisory lock held to the end of its transaction), takes the committed
events that have no position yet in id order and numbers them on from the highest position.
Each publisher's transaction commits before the next one reads the highest position, so
positions become visible in increasing order, without gaps, and a reader that has seen
position N can never later find a new event at or below N. An event is visible to the
replay (`GET /api/v1/events/`) and to webhooks once published: within a second of the commit
when a worker runs (the commit queues the publisher), at worst at the next periodic run.

Scope. Every event names its firm, and where it has them its household, investor and
account; `accounts.permissions.event_scope_q` gives what a user may see (the same rules as households: firm staff
their firm, an advisor the households they advise and those households' investors, an
investor their own households and themselves). Kinds marked `staff_only` (an AML case) are
never shown to investors.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import KINDS, Event
from accounts.services.webhooks import deliveries_create_for
from accounts.subscribers import EVENT_SUBSCRIBERS
from kronos import bulk, readcache
from kronos.relay import enqueue_after_commit

logger = logging.getLogger(__name__)

PUBLISH_LOCK = 0x4B524E53_45564E54 & 0x7FFFFFFFFFFFFFFF
PUBLISH_BATCH = 5000


def _id(value: Any) -> int | None:
    if value is None:
        return None
    return int(getattr(value, "pk", value))


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """Decimals and dates as strings (JSON carries decimals as strings), as the API does."""
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


@dataclass(frozen=True)
class EventSpec:
    """One event of a bulk emit (ids, not instances: bulk writers have only ids)."""

    kind: str
    firm_id: int
    payload: dict[str, Any]
    household_id: int | None = None
    investor_id: int | None = None
    account_id: int | None = None
    subject_type: str = ""
    subject_id: int | None = None


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown event kind {kind!r}: add it to accounts.models.KINDS.")


def event_emit(
    *,
    kind: str,
    firm: Any,
    payload: dict[str, Any],
    household: Any = None,
    investor: Any = None,
    account: Any = None,
    subject_type: str = "",
    subject_id: int | None = None,
) -> Event:
    """Write one event in the caller's transaction (call it from the service that makes the
    change, inside its `transaction.atomic()`). `firm`, `household`, `investor` and `account`
    are instances or ids; `payload` is what integrators read under `data` (decimals become
    strings). Unknown kinds are a programming error (ValueError)."""
    _check_kind(kind)
    firm_id = _id(firm)
    if firm_id is None:
        raise ValueError("An event needs its firm.")
    event = Event.objects.create(
        kind=kind,
        firm_id=firm_id,
        household_id=_id(household),
        investor_id=_id(investor),
        account_id=_id(account),
        subject_type=subject_type,
        subject_id=subject_id,
        payload=_jsonable(payload),
    )
    _publish_after_commit()
    return event


#: The columns the COPY path writes (the rest keep their defaults: no position, unpublished).
_COPY_COLUMNS = (
    "kind",
    "firm_id",
    "household_id",
    "investor_id",
    "account_id",
    "subject_type",
    "subject_id",
    "payload",
    "occurred_at",
)


def events_emit_bulk(specs: Sequence[EventSpec]) -> int:
    """Write many events in the caller's transaction in one statement (bulk paths: the
    nightly proposals, the relay's batch of submissions, billing, reconciliation).

    On PostgreSQL by COPY, each payload encoded to JSON text once: an INSERT of thousands of
    rows spent most of its time in the driver rewriting its placeholders (a tenth of the
    nightly scan). The events' firms' read-cache scopes are touched."""
    if not specs:
        return 0
    for spec in specs:
        _check_kind(spec.kind)
    now = timezone.now()
    if bulk.enabled():
        encode = DjangoJSONEncoder(separators=(", ", ": ")).encode
        bulk.copy_rows(
            Event,
            bulk.check_columns(Event, _COPY_COLUMNS, generated=["id", "position", "published_at"]),
            (
                (
                    spec.kind,
                    spec.firm_id,
                    spec.household_id,
                    spec.investor_id,
                    spec.account_id,
                    spec.subject_type,
                    spec.subject_id,
                    encode(spec.payload),
                    now,
                )
                for spec in specs
            ),
            scopes={readcache.firm_scope(spec.firm_id) for spec in specs},
        )
        _publish_after_commit()
        return len(specs)
    rows = []
    for spec in specs:
        rows.append(
            Event(
                kind=spec.kind,
                firm_id=spec.firm_id,
                household_id=spec.household_id,
                investor_id=spec.investor_id,
                account_id=spec.account_id,
                subject_type=spec.subject_type,
                subject_id=spec.subject_id,
                payload=_jsonable(spec.payload),
                occurred_at=now,
            )
        )
    Event.objects.bulk_create(rows, batch_size=2000)
    _publish_after_commit()
    return len(rows)


def _publish_after_commit() -> None:
    """Queue the publisher once per transaction, after it commits."""
    if not getattr(settings, "EVENTS_PUBLISH_ON_COMMIT", True):
        return
    enqueue_after_commit("accounts.events_relay", once=True)


# --- Publishing: positions in commit order ---------------------------------------------------


def events_publish(*, limit: int = PUBLISH_BATCH) -> list[int]:
    """Give the committed, unpublished events their positions (in id order, continuing from
    the highest position), make their webhook deliveries and run the subscribers of their kinds
    (`accounts.subscribers`), in one transaction, one publisher at a time. Returns the ids
    published. Safe to run any number of times."""
    with transaction.atomic():
        published = _publish_pg(limit) if connection.vendor == "postgresql" else _publish_portable(limit)
        if published:
            deliveries_create_for(event_ids=published)
            subscribers_run(event_ids=published)
    return published


def subscribers_run(*, event_ids: Sequence[int]) -> None:
    """Hand each registered subscriber the events of its kind among `event_ids` (one query for
    the events), each subscriber in its own savepoint: one that raises is logged and undone
    alone, and the events are published all the same (a subscriber's bug never stops the outbox)."""
    subscribers = EVENT_SUBSCRIBERS.checks()
    if not subscribers:
        return
    kinds = {s.kind for s in subscribers}
    by_kind: dict[str, list[Event]] = defaultdict(list)
    for event in Event.objects.filter(pk__in=list(event_ids), kind__in=kinds).order_by("id"):
        by_kind[event.kind].append(event)
    for subscriber in subscribers:
        events = by_kind.get(subscriber.kind)
        if not events:
            continue
        try:
            with transaction.atomic():
                subscriber(events=events)
        except Exception:  # a subscriber's failure is its own: logged, undone alone, the outbox goes on
            logger.exception("event subscriber failed", extra={"kind": subscriber.kind, "events": len(events)})


def _publish_pg(limit: int) -> list[int]:
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PUBLISH_LOCK])
        # A new statement, so a new snapshot: it sees the previous publisher's commit.
        cursor.execute(
            f"WITH base AS (SELECT COALESCE(MAX(position), 0) AS p FROM {table}), "  # noqa: S608  # nosec B608 -- identifiers from model _meta, values as parameters
            f"todo AS (SELECT id FROM {table} WHERE position IS NULL ORDER BY id LIMIT %s), "
            "numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM todo) "
            f"UPDATE {table} e SET position = base.p + numbered.rn, published_at = %s "
            "FROM numbered, base WHERE e.id = numbered.id RETURNING e.id",
            [limit, timezone.now()],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _publish_portable(limit: int) -> list[int]:
    """SQLite (the demo): writers are serialised by the database itself."""
    todo = list(Event.objects.filter(position__isnull=True).order_by("id")[:limit])
    if not todo:
        return []
    base = Event.objects.aggregate(p=Max("position"))["p"] or 0
    now = timezone.now()
    for offset, event in enumerate(todo, start=1):
        event.position = base + offset
        event.published_at = now
    Event.objects.bulk_update(todo, ["position", "published_at"])
    return [e.pk for e in todo]
