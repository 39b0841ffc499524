"""Database helpers shared by the services."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple, TypeVar

import psycopg
from django.conf import settings
from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.models import Model
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from psycopg.pq import Format

T = TypeVar("T")


#: The largest row offset a database takes (PostgreSQL's OFFSET is a bigint; asked for more it
#: fails and aborts the transaction). A page further on cannot hold rows: callers answer it as a
#: page past the last without asking.
LARGEST_OFFSET = 2**63 - 1


def page_number(page: int | str | None) -> int:
    """The page asked for, 1 when it is not a positive whole number (as `Paginator.get_page`)."""
    try:
        number = int(page or 1)
    except (TypeError, ValueError):
        return 1
    return number if number >= 1 else 1


def create_or_winner(create: Callable[[], T], winner: Callable[[], T | None]) -> T:
    """Run `create` in a savepoint; when a unique constraint refuses it because a concurrent call
    (a retry with the same idempotency key, another run of a job) committed the same row first,
    return what `winner` finds instead. When `winner` finds nothing the IntegrityError was some
    other conflict, and it is raised as it is."""
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        existing = winner()
        if existing is None:
            raise
        return existing


# --- Reads compiled once ------------------------------------------------------------------------


class CompiledRead:
    """A read whose SQL is built once per database connection and shape, then run with each
    call's values: building a QuerySet and compiling it is most of a small read's cost (0.6 to
    1.5 ms against 0.1 to 0.3 ms in PostgreSQL for the reads every request makes), and the SQL of
    a read differs only by its values.

    `build(shape, *values)` returns the QuerySet for those values. It is built twice, with two
    sets of stand-in values (integers or strings, as `kinds` says), and the SQL is kept only when
    both give the same text and their parameters differ exactly where the stand-ins are: each
    value reaches the SQL unchanged as a parameter, or not at all. A builder that changes the SQL
    with a value (a branch on it, a `LIKE` pattern made of it) fails at its first call: what
    changes the text (a role, a filter given or not, a slice) goes in `shape`, a hashable key the
    caller passes with the values (at most SHAPES of them are kept). The rows come back as the
    QuerySet gives them (values_list tuples, or model instances with their select_related
    objects and annotations), through the same converters; the statement is one query, as
    before, and runs on the connection's current transaction."""

    _STAND_INS = ((1_900_000_000, "\ue000a"), (1_800_000_000, "\ue000b"))
    SHAPES = 256

    def __init__(self, build: Callable[..., Any], *kinds: type[int] | type[str]) -> None:
        self.build = build
        self.kinds = kinds
        self._local = threading.local()

    def _stand_ins(self, which: int) -> list[Any]:
        number, text = self._STAND_INS[which]
        return [number + i if kind is int else f"{text}{i}\ue000" for i, kind in enumerate(self.kinds)]

    def _compiled(self, shape: Hashable, using: str) -> _Compiled:
        kept: dict[tuple[str, Hashable], _Compiled] = self._local.__dict__.setdefault("kept", {})
        found = kept.get((using, shape))
        if found is None:
            if len(kept) >= self.SHAPES:
                kept.clear()
            found = kept[(using, shape)] = self._compile(shape, using)
        return found

    def _compile(self, shape: Hashable, using: str) -> _Compiled:
        compiled = []
        for which in (0, 1):
            stand_ins = self._stand_ins(which)
            queryset = self.build(shape, *stand_ins)
            compiler = queryset.query.get_compiler(using=using)
            try:
                sql, params = compiler.as_sql()
            except EmptyResultSet:  # the ORM answers nothing without asking the database
                sql, params = "", ()
            compiled.append((stand_ins, sql, tuple(params)))
        (first, sql, params), (second, sql2, params2) = compiled
        if sql != sql2 or len(params) != len(params2):
            raise ImproperlyConfigured(f"{self.build!r}: the SQL changes with the values; put that in the shape")
        if not sql:
            return _Compiled("", (), (), [], None)
        slots: list[int | None] = []
        for a, b in zip(params, params2, strict=True):
            if a == b and a not in first and a not in second:
                if isinstance(a, str) and "\ue000" in a:
                    raise ImproperlyConfigured(f"{self.build!r}: a value reaches the SQL changed ({a!r})")
                slots.append(None)
            elif a in first and b in second and first.index(a) == second.index(b):
                slots.append(first.index(a))
            else:
                raise ImproperlyConfigured(f"{self.build!r}: a value reaches the SQL changed ({a!r}, {b!r})")
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ImproperlyConfigured(f"{self.build!r}: composite fields are not supported")
        converters = list(compiler.get_converters(columns).items())
        model = None
        if queryset._iterable_class is ModelIterable:
            info = compiler.klass_info
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            init_list = [column[0].target.attname for column in compiler.select[start:end]]
            model = _ModelRows(
                info["model"],
                start,
                end,
                init_list,
                get_related_populators(info, compiler.select, using),  # type: ignore[call-arg]  # Django 5.2: no fetch_mode
                list((compiler.annotation_col_map or {}).items()),
            )
        elif queryset._iterable_class is not ValuesListIterable:
            raise ImproperlyConfigured(f"{self.build!r}: model instances or values_list() tuples only")
        return _Compiled(sql, tuple(params), tuple(slots), converters, model)

    def rows(self, *values: Any, shape: Hashable = None, using: str = DEFAULT_DB_ALIAS) -> list[Any]:
        """The QuerySet's rows for these values (tuples, or model instances)."""
        compiled = self._compiled(shape, using)
        if not compiled.sql:
            return []
        params = [c if slot is None else values[slot] for c, slot in zip(compiled.params, compiled.slots, strict=True)]
        connection = connections[using]
        with _read_cursor(connection) as cursor:
            cursor.execute(compiled.sql, params)
            rows: list[Any] = cursor.fetchall()
        if compiled.converters:
            rows = [_converted(row, compiled.converters, connection) for row in rows]
        model = compiled.model
        if model is None:
            return rows if not compiled.converters else [tuple(row) for row in rows]
        objects = []
        for row in rows:
            obj = model.cls.from_db(using, model.init_list, row[model.start : model.end])
            for populator in model.populators:
                populator.populate(row, obj)
            for name, position in model.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


#: The OID whose text loader carries a connection's time zone (as Django's backend reads it).
_TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid


class _PreparingCursor(psycopg.Cursor[Any]):
    """psycopg's server-side binding cursor, preparing every statement it runs. Its statement
    (with $1 placeholders) stays readable as psycopg leaves it after an unprepared one, for
    Django's query log (`connection.queries`, `CaptureQueriesContext`)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

    def _send_query_prepared(self, name: bytes, pgq: Any, *, binary: bool | None = None) -> None:
        self._query = pgq
        super()._send_query_prepared(name, pgq, binary=binary)


def _read_cursor(connection: Any) -> Any:
    """A cursor for a compiled read. On PostgreSQL (unless DATABASE_PREPARED_READS is off) one
    that binds its values on the server and prepares its statement (Django turns psycopg's
    automatic preparing off for the ORM's statements, whose texts vary with their values), so
    PostgreSQL plans it once a connection: a compiled read's text is the same for every call,
    and planning was most of the database's time for the larger ones (the book's page of
    accounts: 1.05 ms planned, 0.26 ms run). It
    is wrapped as Django wraps its own (`connection.queries`, query counts, error wrapping) and
    reads times in the connection's time zone as Django's do. The ORM's other statements keep
    client-side binding. Off for a pooler that does not keep prepared statements (PgBouncer in
    transaction mode before 1.21)."""
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_READS:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _PreparingCursor(connection.connection)
        if connection.timezone != connection.connection.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT).timezone:
            register_tzloader(connection.timezone, cursor)
        return connection._prepare_cursor(cursor)


class _ModelRows(NamedTuple):
    cls: type[Model]
    start: int
    end: int
    init_list: list[str]
    populators: list[Any]
    annotations: list[tuple[str, int]]


class _Compiled(NamedTuple):
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int | None, ...]
    converters: list[tuple[int, tuple[list[Any], Any]]]
    model: _ModelRows | None


def _converted(row: Sequence[Any], converters: list[tuple[int, tuple[list[Any], Any]]], connection: Any) -> list[Any]:
    out = list(row)
    for position, (functions, expression) in converters:
        value = out[position]
        for function in functions:
            value = function(value, expression, connection)
        out[position] = value
    return out


class CompiledIdsRead:
    """A read of the rows of a list of ids (`build(ids)` gives its QuerySet), its SQL built once
    per number of ids (a page's length: at most the largest page size) as a `CompiledRead`."""

    def __init__(self, build: Callable[[list[int]], Any]) -> None:
        self.build = build
        self._reads: dict[int, CompiledRead] = {}

    def rows(self, ids: Sequence[int]) -> list[Any]:
        if not ids:
            return []
        read = self._reads.get(len(ids))
        if read is None:
            read = self._reads[len(ids)] = CompiledRead(
                lambda _shape, *values: self.build(list(values)), *([int] * len(ids))
            )
        return read.rows(*ids)
