"""Idempotency-Key support for API POSTs that move money or place orders.

Usage, on a DRF function view (below `@api_view`) or an APIView method::

    @api_view(["POST"])
    @idempotent
    def transfer_in(request, pk): ...

What a client gets:
- no `Idempotency-Key` header -> 400 saying the header is required;
- the first request with a key runs the view; a 2xx answer is stored with the key;
- a repeat with the same key, method, path and body -> the stored answer (same status,
  same body), with `Idempotent-Replayed: true`; the view does not run again;
- the same key with another body (or another endpoint) -> 422 saying so;
- an answer that is not 2xx (bad input, a domain error, an exception) stores nothing and
  writes nothing, so the client may correct the request and retry with the same key.

How one execution is guaranteed, even for concurrent repeats: the key row is INSERTed
first, inside the same transaction as the view's writes. PostgreSQL makes every other
INSERT of the same (user, key) wait on the unique index until that transaction ends;
when it commits they fail with IntegrityError and read the stored answer (locking the
row with SELECT ... FOR UPDATE); when it rolls back, one of them goes ahead instead.

The keys live in a concrete subclass of `kronos.models.IdempotencyKeyBase` that the owning app
hands over with `use_store(Model)` in its `AppConfig.ready()` (`accounts.IdempotencyKey`); a
system check (kronos.E011) refuses to start without one.

Keys are kept at least 24 hours: `idempotency_keys_clear()` deletes older ones (the
scheduled `accounts.services.expired_credentials_clear` does the same after 48 hours).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from kronos.api.headers import HEADER, KEY_PATTERN, MAX_KEY_LENGTH
from kronos.api.permissions import api_user
from kronos.db import create_or_winner
from kronos.models import IdempotencyKeyBase

_KEY_RE = re.compile(KEY_PATTERN)
#: Keys younger than this are never deleted.
RETENTION = timedelta(hours=24)

F = TypeVar("F", bound=Callable[..., Any])

#: The concrete key model (a subclass of `IdempotencyKeyBase`), handed over by the app that owns
#: its table (`accounts`, in `AccountsConfig.ready()`): the project package imports no app.
_store: type[IdempotencyKeyBase] | None = None


def use_store(model: type[IdempotencyKeyBase]) -> None:
    """Keep the keys in `model`'s table; called once, by the owning app's `ready()`."""
    global _store
    _store = model


def _keys() -> type[IdempotencyKeyBase]:
    if _store is None:
        raise ImproperlyConfigured("No idempotency key store: an app must call kronos.idempotency.use_store().")
    return _store


def check_store(**kwargs: Any) -> list[checks.CheckMessage]:
    """System check: idempotent endpoints need a key store."""
    if _store is None:
        return [
            checks.Error(
                "No idempotency key store is registered.",
                hint="The app owning the key table calls kronos.idempotency.use_store(Model) in its ready().",
                id="kronos.E011",
            )
        ]
    return []


def request_fingerprint(request: Request) -> str:
    """SHA-256 of the method, path and body (JSON canonicalised: key order and spacing don't matter)."""
    try:
        body: Any = request.data
    except Exception:  # unparsable bodies are refused by the view itself  # noqa: BLE001
        body = None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=JSONEncoder, default=str)
    payload = f"{request.method}\n{request.path}\n{canonical}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _error(message: str, http_status: int, code: str) -> Response:
    return Response({"detail": message, "code": code, HEADER: [message]}, status=http_status)


def _replay(record: IdempotencyKeyBase, *, method: str, path: str, fingerprint: str) -> Response:
    if record.method != method or record.path != path:
        return _error(
            f"This Idempotency-Key was already used for {record.method} {record.path}; use a new key for this request.",
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        )
    if record.request_hash != fingerprint:
        return _error(
            "This Idempotency-Key was already used with a different request body; "
            "send the same body to get the first answer, or use a new key.",
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        )
    if record.completed_at is None or record.response_status is None:
        # Only reachable if a row was written outside this module.
        return _error(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            status.HTTP_409_CONFLICT,
            "idempotency_key_in_progress",
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _stored_body(data: Any) -> Any:
    """The response data exactly as the JSON renderer writes it, so a replay is byte-for-byte the same."""
    return json.loads(JSONRenderer().render(data))


def run_idempotently(request: Request, handler: Callable[[], Response]) -> Response:
    """Run `handler` once per (user, Idempotency-Key); see the module docstring."""
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        return _error(
            f"The {HEADER} header is required for this request: send a unique value (e.g. a UUID) "
            "and reuse it when you retry.",
            status.HTTP_400_BAD_REQUEST,
            "idempotency_key_missing",
        )
    if len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key):
        return _error(
            f"The {HEADER} must be at most {MAX_KEY_LENGTH} visible ASCII characters (spaces only inside).",
            status.HTTP_400_BAD_REQUEST,
            "idempotency_key_invalid",
        )
    user = api_user(request)
    method = cast(str, request.method)
    path = request.path[:500]
    fingerprint = request_fingerprint(request)

    store = _keys()
    inserted = False

    def insert() -> IdempotencyKeyBase:
        nonlocal inserted
        row = store._default_manager.create(user=user, key=key, method=method, path=path, request_hash=fingerprint)
        inserted = True
        return row

    with transaction.atomic():
        try:
            # Another request holds (or held) this key when the INSERT fails: its transaction has
            # ended by now, and its row is read under a lock.
            record = create_or_winner(
                insert, lambda: store._default_manager.select_for_update().filter(user=user, key=key).first()
            )
        except IntegrityError:  # pragma: no cover - the winner was deleted between the insert and the read
            return _error(
                "A request with this Idempotency-Key was just discarded; retry.",
                status.HTTP_409_CONFLICT,
                "idempotency_key_in_progress",
            )
        if not inserted:
            return _replay(record, method=method, path=path, fingerprint=fingerprint)

        response = handler()
        if not 200 <= response.status_code < 300:
            # Nothing happened: forget the key and anything the handler wrote.
            transaction.set_rollback(True)
            return response
        record.response_status = response.status_code
        record.response_body = _stored_body(response.data)
        record.completed_at = timezone.now()
        record.save(update_fields=["response_status", "response_body", "completed_at"])
        return response


def idempotent(view: F) -> F:
    """Decorate a DRF view function `(request, ...)` or APIView method `(self, request, ...)`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request = args[0] if isinstance(args[0], Request) else args[1]
        return run_idempotently(request, lambda: view(*args, **kwargs))

    return cast(F, wrapper)


def service_key(request: Request, prefix: str, *, max_length: int = 200) -> str:
    """The request's Idempotency-Key scoped to its user, as a service's own idempotency key:
    `prefix:user:key`, or `prefix:user:sha256:<hex>` when that would not fit the services'
    key columns (200 characters) -- a 255-character key is valid and must not fail the write."""
    key = (request.headers.get(HEADER) or "").strip()
    scoped = f"{prefix}:{api_user(request).pk}:{key}"
    if len(scoped) <= max_length:
        return scoped
    return f"{prefix}:{api_user(request).pk}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def idempotent_when_keyed(view: F) -> F:
    """Like `idempotent`, for an endpoint that took POSTs before it took keys: a request with an
    Idempotency-Key is run once per key; one without runs as before."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request = args[0] if isinstance(args[0], Request) else args[1]
        if request.method != "POST" or not (request.headers.get(HEADER) or "").strip():
            return view(*args, **kwargs)  # type: ignore[no-any-return]
        return run_idempotently(request, lambda: view(*args, **kwargs))

    return cast(F, wrapper)


def idempotency_keys_clear(*, now: datetime | None = None, retention: timedelta = RETENTION) -> int:
    """Delete keys older than `retention` (at least 24 hours); returns how many went. Re-runnable."""
    retention = max(retention, RETENTION)
    cutoff = (now or timezone.now()) - retention
    deleted, _ = _keys()._default_manager.filter(created_at__lt=cutoff).delete()
    return deleted
