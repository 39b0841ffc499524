"""The audit trail: every change to every history-tracked model, read from the simple_history
tables found through its registry.

An entry is one history row with the row before it for the same object (fetched by a
correlated subquery in the same SELECT, as JSON), so "before" and "after" cost no extra
query per row. Lists use keyset pagination on (history_date, history_id) descending: a page
is one query per model shown, never a COUNT(*) over the table. The CSV export streams
the same entries with a server-side cursor.
"""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import F, OuterRef, Q, Subquery, Window
from django.db.models.functions import Cast, JSONObject, Lag
from simple_history.models import registered_models

from accounts.models import User
from compliance.permissions import FIRM_SCOPE, FIRMLESS, audit_firm_filter, audit_reads_all_firms

__all__ = ["FIRMLESS", "FIRM_SCOPE", "AuditEntry", "AuditFilter", "audit_iter", "audit_models", "audit_page"]

HISTORY_META_FIELDS = frozenset(
    {"history_id", "history_date", "history_change_reason", "history_type", "history_user", "history_relation"}
)
TYPE_LABELS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class AuditModel:
    label: str  # "app_label.ModelName"
    model: Any  # a model class
    history: Any  # its simple_history model class
    fields: tuple[str, ...]  # tracked columns (attnames), without the history bookkeeping


def audit_models() -> dict[str, AuditModel]:
    """Every history-tracked model by its label, from the simple_history registry."""
    found: dict[str, AuditModel] = {}
    for model in registered_models.values():
        name = getattr(model._meta, "simple_history_manager_attribute", "history")
        manager = getattr(model, name, None)
        if manager is None:
            continue
        history = manager.model
        columns = tuple(
            f.attname
            for f in history._meta.concrete_fields
            if f.name not in HISTORY_META_FIELDS and not f.name.startswith("history_")
        )
        label = model._meta.label
        found[label] = AuditModel(label=label, model=model, history=history, fields=columns)
    return dict(sorted(found.items()))


@dataclass
class AuditFilter:
    model: str = ""
    object_id: str = ""
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    field: str = ""
    # Whose trail: one firm's rows (firm_id), or every firm's (all_firms, superusers). The
    # default sees only FIRMLESS models: a filter nobody scoped shows no client's data.
    firm_id: int | None = None
    all_firms: bool = False

    @classmethod
    def for_user(cls, user: User, **kwargs: Any) -> "AuditFilter":
        return cls(firm_id=user.firm_id, all_firms=audit_reads_all_firms(user), **kwargs)


def _firm_filter(am: "AuditModel", flt: AuditFilter) -> Q | None:
    """The filter keeping this model's rows the viewer may read; None when they may read none."""
    return audit_firm_filter(am.label, firm_id=flt.firm_id, all_firms=flt.all_firms)


@dataclass
class AuditEntry:
    model: str
    object_id: str
    history_id: int
    date: datetime
    kind: str
    user_id: int | None
    user: str
    reason: str
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, before, after)

    @property
    def cursor(self) -> str:
        return encode_cursor(self.date, self.model, self.history_id)


def encode_cursor(date: datetime, model: str, history_id: int) -> str:
    raw = json.dumps([date.isoformat(), model, history_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        date, model, history_id = json.loads(raw)
        return datetime.fromisoformat(date), str(model), int(history_id)
    except (ValueError, TypeError):
        return None


def _previous(am: AuditModel) -> Subquery:
    """The history_id of the history row just before the outer one, for the same object.

    Only the id: building the previous row's JSON inside the correlated subquery costs
    ~0.5 ms a row; the rows themselves are fetched by id, one query per page or chunk."""
    pk = am.model._meta.pk.attname
    earlier = am.history.objects.filter(**{pk: OuterRef(pk)}).filter(
        Q(history_date__lt=OuterRef("history_date"))
        | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
    )
    return Subquery(earlier.order_by("-history_date", "-history_id").values("history_id")[:1])


def _previous_rows(am: AuditModel, rows: list[Any]) -> dict[int, dict[str, Any]]:
    ids = [row["prev_id"] for row in rows if row["prev_id"]]
    if not ids:
        return {}
    found = am.history.objects.filter(history_id__in=ids).values_list("history_id", _as_text_json(am.fields))
    return {hid: _loads(cur) for hid, cur in found}


def _as_text_json(columns: tuple[str, ...]) -> JSONObject:
    # Every value as PostgreSQL's text of it, so before and after compare and display alike
    # (and decimals never pass through a JSON float).
    return JSONObject(**{c: Cast(c, models.TextField()) for c in columns})


def _queryset(am: AuditModel, flt: AuditFilter, *, whole: bool = False) -> models.QuerySet | None:
    """The model's history rows matching the filter, with the previous row as `prev`; None
    when the filter cannot match this model (object id of another type, unknown field)."""
    pk = am.model._meta.pk.attname
    columns = am.fields
    if flt.field and flt.field not in columns:
        return None
    scope = _firm_filter(am, flt)
    if scope is None:
        return None
    qs = am.history.objects.filter(scope)
    if flt.object_id:
        try:
            qs = qs.filter(**{pk: am.model._meta.pk.to_python(flt.object_id)})
        except Exception:  # noqa: BLE001 -- an id that cannot be this model's pk matches nothing here
            return None
    if flt.user_id:
        qs = qs.filter(history_user_id=flt.user_id)
    if flt.since:
        qs = qs.filter(history_date__gte=flt.since)
    if flt.until:
        qs = qs.filter(history_date__lt=flt.until)
    if whole and not (flt.user_id or flt.since or flt.until or flt.field):
        # Reading every version of each object: one window over the table beats a
        # correlated subquery per row (~10x for 100,000 rows). Only when no filter drops
        # versions, since the window sees the filtered rows alone.
        prev = Window(
            Lag("history_id"), partition_by=[F(pk)], order_by=[F("history_date").asc(), F("history_id").asc()]
        )
        qs = qs.annotate(prev_id=prev, cur=_as_text_json(columns))
    else:
        qs = qs.annotate(prev_id=_previous(am), cur=_as_text_json(columns))
    qs = qs.values(
        "history_id",
        "history_date",
        "history_type",
        "history_user_id",
        "history_change_reason",
        "prev_id",
        "cur",
        oid=F(pk),
    )
    if flt.field:
        # Entries where the field changed: created rows, or a value distinct from the previous one.
        prev_value = Subquery(
            am.history.objects.filter(**{pk: OuterRef(pk)})
            .filter(
                Q(history_date__lt=OuterRef("history_date"))
                | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
            )
            .order_by("-history_date", "-history_id")
            .annotate(v=Cast(flt.field, models.TextField()))
            .values("v")[:1]
        )
        qs = qs.annotate(_prev_value=prev_value, _value=Cast(flt.field, models.TextField())).filter(
            Q(history_type="+")
            | Q(_prev_value__isnull=True, _value__isnull=False)
            | Q(_prev_value__isnull=False, _value__isnull=True)
            | ~Q(_prev_value=F("_value"))
        )
    return qs


def _entry(
    am: AuditModel, row: Any, users: dict[int, str], prevs: dict[int, dict[str, Any]], only_field: str = ""
) -> AuditEntry:
    prev = prevs.get(row["prev_id"], {}) if row["prev_id"] else {}
    cur = _loads(row["cur"])
    changes = []
    for column in (only_field,) if only_field else am.fields:
        after = cur.get(column)
        before = prev.get(column)
        if row["history_type"] == "-":
            changes.append((column, after, None))
        elif not prev:
            if after not in (None, ""):
                changes.append((column, None, after))
        elif before != after:
            changes.append((column, before, after))
    uid = row["history_user_id"]
    return AuditEntry(
        model=am.label,
        object_id=str(row["oid"]),
        history_id=row["history_id"],
        date=row["history_date"],
        kind=TYPE_LABELS.get(row["history_type"], row["history_type"]),
        user_id=uid,
        user=users.get(uid, "") if uid else "",
        reason=row["history_change_reason"] or "",
        changes=changes,
    )


def _loads(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def _user_names(ids: set[int]) -> dict[int, str]:
    return {u.pk: u.email for u in User.objects.filter(pk__in=ids).only("id", "email")} if ids else {}


def audit_page(
    *, flt: AuditFilter, after: str = "", size: int = 50, models_by_label: dict[str, AuditModel] | None = None
) -> tuple[list[AuditEntry], str]:
    """One page of entries, newest first, after the cursor; and the next page's cursor ("" at the end).

    With a model chosen: 2 queries (rows, users). Without: one query per history table plus one."""
    registry = models_by_label or audit_models()
    chosen = [registry[flt.model]] if flt.model else list(registry.values())
    key = decode_cursor(after) if after else None
    candidates: list[tuple[Any, AuditModel]] = []
    for am in chosen:
        qs = _queryset(am, flt)
        if qs is None:
            continue
        if key:
            date, label, hid = key
            # Order across tables: (date desc, label desc, history_id desc).
            if am.label < label:
                qs = qs.filter(history_date__lte=date)
            elif am.label == label:
                qs = qs.filter(Q(history_date__lt=date) | Q(history_date=date, history_id__lt=hid))
            else:
                qs = qs.filter(history_date__lt=date)
        rows = list(qs.order_by("-history_date", "-history_id")[: size + 1])
        candidates.extend((row, am) for row in rows)
    candidates.sort(key=lambda pair: (pair[0]["history_date"], pair[1].label, pair[0]["history_id"]), reverse=True)
    page = candidates[: size + 1]
    more = len(page) > size
    page = page[:size]
    users = _user_names({row["history_user_id"] for row, _ in page if row["history_user_id"]})
    prevs: dict[str, dict[int, dict[str, Any]]] = {}
    for label in {am.label for _, am in page}:
        am = registry[label]
        prevs[label] = _previous_rows(am, [row for row, m in page if m.label == label])
    entries = [_entry(am, row, users, prevs[am.label], flt.field) for row, am in page]
    return entries, (entries[-1].cursor if more and entries else "")


def audit_iter(*, flt: AuditFilter, chunk_size: int = 2000) -> Iterator[AuditEntry]:
    """Every matching entry, model by model, newest first within a model, streamed from a
    server-side cursor in chunks (one extra query per chunk for the previous rows)."""
    registry = audit_models()
    chosen = [registry[flt.model]] if flt.model else list(registry.values())
    users: dict[int, str] = {}
    for am in chosen:
        qs = _queryset(am, flt, whole=True)
        if qs is None:
            continue
        batch: list[Any] = []
        for row in qs.order_by("-history_date", "-history_id").iterator(chunk_size=chunk_size):
            batch.append(row)
            if len(batch) >= chunk_size:
                yield from _batch_entries(am, batch, users, flt.field)
                batch = []
        yield from _batch_entries(am, batch, users, flt.field)


def _batch_entries(am: AuditModel, rows: list[Any], users: dict[int, str], only_field: str) -> Iterator[AuditEntry]:
    """Entries of one chunk: the previous rows in one query, unknown users in one more."""
    if not rows:
        return
    missing = {r["history_user_id"] for r in rows if r["history_user_id"] and r["history_user_id"] not in users}
    if missing:
        users.update(dict(User.objects.filter(pk__in=missing).values_list("id", "email")))
    prevs = _previous_rows(am, rows)
    for row in rows:
        yield _entry(am, row, users, prevs, only_field)


CSV_HEADER = ["date", "model", "object_id", "action", "user", "reason", "field", "before", "after"]


def csv_rows(entries: Iterator[AuditEntry]) -> Iterator[list[str]]:
    """One CSV row per changed field (an entry without changes still gets one row)."""
    yield CSV_HEADER
    for e in entries:
        base = [e.date.isoformat(), e.model, e.object_id, e.kind, e.user, e.reason]
        if not e.changes:
            yield [*base, "", "", ""]
        for name, before, after in e.changes:
            yield [*base, name, _cell(before), _cell(after)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)
