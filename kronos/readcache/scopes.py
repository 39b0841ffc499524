"""Which scopes a write changed: each audited model's rows resolved to their firms.

The apps register, per model, the paths from a row to its firm (`register_paths`, the same paths
the audit trail's firm filter follows) or a function of their own (`register`). A model nobody
registered, or a row whose firm cannot be found, touches SHARED: everyone's answers go stale,
never someone's stay stale.

A path's first step is read off the row itself (`account_id`); the rest (the account's household's
firm) is looked up once per parent row and remembered in the process: the parents an audited row
hangs from (an account, a lot, an order, a book) do not move to another firm. Remembered parents
are bounded (the memo is dropped when it grows past MEMO_LIMIT).

Hooked into the history writes (`install`): a single history row (simple_history's signal) and a
bulk of them (simple_history's `bulk_history_create`, `kronos.bulk`) touch their rows' scopes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db.models import Field, Model

from kronos.readcache.versions import SHARED, enabled, firm_scope, touch

logger = logging.getLogger(__name__)

Resolver = Callable[[Sequence[Model]], set[str]]

_resolvers: dict[str, Resolver] = {}
_memo: dict[tuple[str, int, str], int | None] = {}
MEMO_LIMIT = 200_000


def register(label: str, resolver: Resolver) -> None:
    """Resolve the rows of model `label` ("app.Model") with `resolver(rows) -> scopes`."""
    _resolvers[label] = resolver


def register_shared(label: str) -> None:
    _resolvers[label] = lambda rows: {SHARED}


def register_paths(model: type[Model], *paths: str) -> None:
    """Rows of `model` belong to the firm at the end of any of `paths` (Django lookups ending in a
    firm id: "firm_id", "household__firm_id", "account__household__firm_id"; "id" for the firm)."""
    _resolvers[model._meta.label] = lambda rows: {firm_scope(f) for f in firms_by_paths(model, rows, paths)}


def firms_by_paths(model: type[Model], rows: Sequence[Model], paths: Sequence[str]) -> set[int]:
    firms: set[int] = set()
    for path in paths:
        head, _, rest = path.partition("__")
        if not rest:
            firms |= {v for v in (getattr(row, head, None) for row in rows) if v is not None}
            continue
        field = model._meta.get_field(head)
        parent = field.related_model
        assert isinstance(field, Field) and parent is not None and not isinstance(parent, str)
        ids = {v for v in (getattr(row, field.attname, None) for row in rows) if v is not None}
        firms |= _parents_firms(parent, ids, rest)
    return firms


def _parents_firms(parent: type[Model], ids: set[int], rest: str) -> set[int]:
    label = parent._meta.label
    missing = [i for i in ids if (label, i, rest) not in _memo]
    if missing:
        if len(_memo) > MEMO_LIMIT:
            _memo.clear()
        found = dict(parent._default_manager.filter(pk__in=missing).values_list("pk", rest))
        for i in missing:
            _memo[(label, i, rest)] = found.get(i)
    return {f for f in (_memo[(label, i, rest)] for i in ids) if f is not None}


def remember_firm(model: type[Model], pks: Iterable[int], path: str, firm_id: int) -> None:
    """Rows `pks` of `model` belong to `firm_id` through `path` (e.g. "account__household__firm_id"):
    a caller that read them with that path joined tells it here, and the rows hanging from them
    (an order's executions, a lot's closures) are resolved without a lookup of their own."""
    if len(_memo) > MEMO_LIMIT:
        _memo.clear()
    label = model._meta.label
    for pk in pks:
        _memo[(label, pk, path)] = firm_id


def scopes_of(model: type[Model], rows: Sequence[Model]) -> set[str]:
    """The scopes `rows` of `model` belong to (SHARED when unknown); none while the read cache
    is off (nothing is kept that a write could make stale, so nothing is looked up)."""
    if not enabled():
        return set()
    resolver = _resolvers.get(model._meta.label)
    if resolver is None:
        return {SHARED}
    try:
        scopes = resolver(rows)
    except Exception:
        logger.warning("read cache: could not resolve the scopes of %s rows", model._meta.label, exc_info=True)
        return {SHARED}
    return scopes


def touch_rows(model: type[Model], rows: Iterable[Model]) -> None:
    """A write of `rows` of `model` (saved, with their ids and foreign keys set)."""
    rows = list(rows)
    if rows:
        touch(*scopes_of(model, rows))


# --- hooked into the history writes ---------------------------------------------------------------


def _on_history_row(sender: Any, instance: Model, **kwargs: Any) -> None:
    touch_rows(type(instance), [instance])


def install() -> None:
    """Every history row touches its row's scopes: one through simple_history's signal, a bulk
    through its manager's `bulk_history_create` (`kronos.bulk` touches its own)."""
    from simple_history.manager import HistoryManager
    from simple_history.signals import post_create_historical_record

    post_create_historical_record.connect(_on_history_row, dispatch_uid="kronos.readcache.history_row")
    if getattr(HistoryManager, "_kronos_touches", False):
        return
    original = HistoryManager.bulk_history_create

    def bulk_history_create(self: Any, objs: Any, *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        created = original(self, objs, *args, **kwargs)
        if objs:
            touch_rows(type(objs[0]), objs)
        return created

    HistoryManager.bulk_history_create = bulk_history_create  # type: ignore[method-assign]
    HistoryManager._kronos_touches = True  # type: ignore[attr-defined]
