"""Bulk writes with history at PostgreSQL speed: rows in by COPY, history rows copied by the database.

simple_history's `bulk_create_with_history` / `bulk_update_with_history` build a model instance
for every history row and send every value of every row as a query parameter; at the scale of
the nightly scan and the quarterly billing (hundreds of thousands of rows) that is most of the
time. The helpers here write the same rows -- for a history row: every tracked field, the
history date, the change reason, the type ('+' created, '~' changed) and the acting user --
with COPY and `INSERT ... SELECT`, in the caller's transaction. They are for PostgreSQL
(`enabled()`); callers keep the ORM path for other databases (SQLite in `make run`).

Each write names the read-cache scopes it changes (`kronos.readcache`): the rows' firms where
the helper has the rows, else what the caller passes (SHARED, everyone's answers, by default).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import JSONField, Model
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from kronos import readcache

M = TypeVar("M", bound=Model)

HISTORY_COLUMNS = ("history_date", "history_change_reason", "history_type", "history_user_id")


def enabled() -> bool:
    """Whether the COPY paths apply (PostgreSQL)."""
    return connection.vendor == "postgresql"


def history_enabled() -> bool:
    return bool(getattr(settings, "SIMPLE_HISTORY_ENABLED", True))


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def check_columns(model: type[Model], columns: Sequence[str], *, generated: Sequence[str] = ()) -> Sequence[str]:
    """`columns`, after checking they are exactly the model's columns but `generated` (a field
    added to the model must be written by the COPY too)."""
    expected = {str(f.column) for f in model._meta.concrete_fields} - set(generated)
    if set(columns) != expected:
        raise RuntimeError(f"{model.__name__}'s COPY columns are out of date: {sorted(expected ^ set(columns))}")
    return columns


def next_ids(model: type[Model], count: int) -> list[int]:
    """`count` new primary keys from the model's identity sequence, in one query."""
    if count <= 0:
        return []
    pk = model._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    scopes: Iterable[str] = (readcache.SHARED,),
) -> None:
    """COPY `rows` (values in `columns` order, as psycopg adapts them) into the model's table,
    touching `scopes` (the read-cache scopes the rows belong to); database errors (a unique key
    taken) raise as Django's."""
    readcache.copy_rows(model._meta.db_table, columns, rows, scopes=scopes)  # the one COPY in the project


def history_parts(model: type[Model]) -> tuple[str, str, str]:
    """(history table, its columns, the tracked columns to select from the model's table)."""
    history = model.history.model  # type: ignore[attr-defined]
    tracked = [f.column for f in history.tracked_fields]
    own = {f.column for f in history._meta.concrete_fields} - set(tracked) - {"history_id", *HISTORY_COLUMNS}
    if own or hasattr(history, "history_relation"):
        raise RuntimeError(f"{history.__name__} has fields these bulk writers do not fill: {sorted(own)}")
    columns = ", ".join(_q(c) for c in [*tracked, *HISTORY_COLUMNS])
    return _q(history._meta.db_table), columns, ", ".join(_q(c) for c in tracked)


def history_from_table(
    model: type[Model],
    *,
    where: str,
    params: Sequence[Any],
    acting_user: AbstractBaseUser,
    reason: str,
    now: datetime,
    history_type: str = "+",
    scopes: Iterable[str] = (readcache.SHARED,),
) -> int:
    """One history row for each row of the model's table matching `where` (SQL on its columns,
    with `params`), as simple_history's bulk writers make it, touching `scopes` (those rows'
    read-cache scopes). Returns the rows written."""
    readcache.touch(*scopes)
    if not history_enabled():
        return 0
    table, columns, tracked = history_parts(model)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {tracked}, %s, %s, %s, %s "  # noqa: S608 -- identifiers from the models, values as parameters  # nosec B608 -- identifiers from model _meta or code, values as parameters
            f"FROM {_q(model._meta.db_table)} WHERE {where}",
            [now, reason[:100], history_type, getattr(acting_user, "pk", None), *params],
        )
        return cursor.rowcount


def _getter(field: Any) -> Callable[[Model], Any]:
    """The value COPY writes for `field` of an instance: the attribute as psycopg adapts it,
    JSON encoded as Django's JSONField encodes it."""
    if isinstance(field, JSONField):
        return lambda obj: _json(getattr(obj, field.attname), field)
    return attrgetter(field.attname)


def _json(value: Any, field: JSONField) -> str | None:
    if value is None and field.null:
        return None  # SQL NULL, as Django stores None in a nullable JSONField
    return json.dumps(value, cls=field.encoder)


def pk_array(model: type[Model]) -> str:
    """`pk = ANY(%s::<type>[])` for the model's primary key."""
    pk = model._meta.pk
    assert pk is not None
    return f"{_q(str(pk.column))} = ANY(%s::{pk.rel_db_type(connection)}[])"


def create_with_history(
    objs: Sequence[M], model: type[Model], *, acting_user: AbstractBaseUser, reason: str, now: datetime | None = None
) -> list[M]:
    """`bulk_create_with_history` on PostgreSQL: primary keys from the sequence, the rows by COPY,
    their '+' history rows (history date `now`) from the table. auto_now and auto_now_add fields
    take `now`, as their pre_save would. Returns `objs`, saved (pk set, no longer adding).
    Elsewhere (SQLite in `make run`) simple_history's own `bulk_create_with_history`."""
    if not objs:
        return []
    if not enabled():
        return bulk_create_with_history(
            list(objs), model, batch_size=2000, default_user=acting_user, default_change_reason=reason, default_date=now
        )
    now = now or timezone.now()
    fields = list(model._meta.concrete_fields)
    for obj, pk in zip(objs, next_ids(model, len(objs)), strict=True):
        obj.pk = pk
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                setattr(obj, field.attname, now)
    getters = [_getter(field) for field in fields]
    with transaction.atomic(savepoint=False):
        scopes = readcache.scopes_of(model, objs)
        copy_rows(
            model, [str(f.column) for f in fields], ([get(obj) for get in getters] for obj in objs), scopes=scopes
        )
        history_from_table(
            model,
            where=pk_array(model),
            params=[[obj.pk for obj in objs]],
            acting_user=acting_user,
            reason=reason,
            now=now,
            scopes=scopes,
        )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return list(objs)


def update_with_history(
    model: type[Model],
    rows: Sequence[Model],
    fields: Sequence[str],
    *,
    acting_user: AbstractBaseUser,
    reason: str,
    now: datetime | None = None,
) -> None:
    """`bulk_update_with_history` on PostgreSQL: `fields` of `rows` COPYed into a temporary table,
    one UPDATE from it, then their '~' history rows (history date `now`) from the table."""
    if not rows:
        return
    now = now or timezone.now()
    pk = model._meta.pk
    assert pk is not None
    columns: list[Any] = [model._meta.get_field(name) for name in fields]
    staging = _q(f"bulk_{model._meta.db_table}"[:60])
    types = ", ".join(f"c{n} {f.db_type(connection)}" for n, f in enumerate(columns, start=1))
    sets = ", ".join(f"{_q(str(f.column))} = s.c{n}" for n, f in enumerate(columns, start=1))
    getters = [_getter(f) for f in columns]
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {staging} (pk {pk.rel_db_type(connection)}, {types}) ON COMMIT DROP"
            )
        readcache.copy_rows(
            staging,
            ["pk", *[f"c{n}" for n in range(1, len(columns) + 1)]],
            ([row.pk, *[get(row) for get in getters]] for row in rows),
            scopes=(),  # a temporary table: the rows it updates are touched with their history
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_q(model._meta.db_table)} AS t SET {sets} FROM {staging} AS s "  # noqa: S608 -- identifiers from the model, values by COPY  # nosec B608 -- identifiers from model _meta or code
                f"WHERE t.{_q(str(pk.column))} = s.pk"
            )
            cursor.execute(f"DROP TABLE {staging}")
        history_from_table(
            model,
            where=pk_array(model),
            params=[[row.pk for row in rows]],
            acting_user=acting_user,
            reason=reason,
            now=now,
            history_type="~",
            scopes=readcache.scopes_of(model, rows),
        )
