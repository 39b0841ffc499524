"""Cached answers for the API's reads, made stale by every committed write.

An answer is cached under (data version, user, business date, full path). The data version
is one integer per database in the shared cache; it moves whenever a write becomes visible:

- Every database connection runs `_watch` around its statements (installed when the
  connection is made). An INSERT, UPDATE, DELETE, TRUNCATE or MERGE on any table but the
  housekeeping ones in IGNORED_TABLES marks the connection: in autocommit the version moves at
  once; inside a transaction it moves when the transaction commits (one on_commit per
  transaction), and a rollback moves nothing because nothing became visible.
- A read on the same connection inside that still-open transaction moves it first, so code
  that writes and then reads in one transaction (a test, a management command) reads its writes.
- COPY goes around Django's cursor wrapper: `copy_rows()` is the one place that COPYs into
  tables, and it marks the connection itself.

Why this is safe: a reader takes the version *before* it reads the data, and the version
moves *after* the commit. Whatever a reader caches under version v was read after v was
current, so it is at least as new as every write that moved the version to v. Answers cached
while a commit was landing are filed under a version that is already (or about to be) old.
What no hook sees (an operator's psql session, a restored backup) is bounded by
READ_CACHE_SECONDS, and when the cache cannot be reached reads skip it and writes log it; when
it is back, the version moves once (kronos/cache.py), since the writes made meanwhile could not.

The version is global, so a busy firm's writes also make other firms' answers stale: this
trades hit rate for one simple invariant. Disabled (READ_CACHE_SECONDS=0) with a per-process
cache (local memory in `make run`), where one process cannot see another's writes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.crypto import salted_hmac
from prometheus_client import Counter
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from kronos import cache as kcache

logger = logging.getLogger(__name__)


def _scope() -> str:
    """The database the answers come from: one version per database (parallel test runs each
    have their own), and answers of one database never served for another."""
    return str(default_connection.settings_dict["NAME"])


#: Tables whose writes no cached answer reads: sessions, login attempts, Celery's own books.
#: (OAuth tokens and second-factor devices are not ignored: token lookups and the signed-in
#: user's device are cached too, so a revoked token or device counts from the next request.)
IGNORED_TABLES = (
    "django_session",
    "axes_",
    "django_celery_beat_",
    "django_celery_results_",
    "django_admin_log",
    # Events and webhook deliveries: no cached answer reads them (the events replay is not
    # cached), and the relay's publishing and retries would otherwise move the version.
    "accounts_event",
    "accounts_webhookdelivery",
    "accounts_webhookattempt",
)

_WRITE = re.compile(
    r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|MERGE\s+INTO)\s+(?:ONLY\s+)?"?([\w.]+)"?',
    re.IGNORECASE,
)
_CTE_WRITE = re.compile(r"\b(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)

READS = Counter(
    "kronos_read_cache_total",
    "Cached reads by outcome: hit, miss (computed and stored), shared (waited for another reader's computation), "
    "bypass (cache off or unreachable).",
    ["outcome"],
)
BUMP_FAILURES = Counter(
    "kronos_read_cache_bump_failures_total",
    "Data-version moves that could not reach the cache (answers may stay stale up to READ_CACHE_SECONDS).",
)


def enabled() -> bool:
    return int(getattr(settings, "READ_CACHE_SECONDS", 0)) > 0


# --- noticing writes ------------------------------------------------------------------------------


def _writes_tracked_table(sql: str) -> bool:
    head = sql.lstrip()[:12].upper()
    if head.startswith(("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "SET ", "SHOW", "BEGIN", "COMMIT")):
        return False
    if head.startswith("WITH"):
        return bool(_CTE_WRITE.search(sql))
    match = _WRITE.match(sql)
    if match is None:
        return head.startswith(("COPY", "ALTER", "CREATE", "DROP"))  # schema changes and COPY: stale
    table = match.group(1).lower()
    return not table.startswith(IGNORED_TABLES)


def _watch(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    result = execute(sql, params, many, context)
    if isinstance(sql, str) and _writes_tracked_table(sql):
        note_write(context["connection"])
    return result


def install(connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: watch this connection's statements (once per wrapper)."""
    if _watch not in connection.execute_wrappers:
        connection.execute_wrappers.append(_watch)


def note_write(connection: BaseDatabaseWrapper | None = None) -> None:
    """Record that `connection` changed data: the version moves now (autocommit) or at commit."""
    connection = connection or default_connection
    if not enabled():
        return
    if not connection.in_atomic_block:
        bump()
        return
    connection._kronos_read_dirty = True  # type: ignore[attr-defined]  # read-your-writes, see _pending_in_transaction
    if not any(entry[1] is bump for entry in connection.run_on_commit):
        connection.on_commit(bump, robust=True)


def _settle_own_writes(connection: BaseDatabaseWrapper) -> None:
    """Before a cached read on a connection that wrote in its still-open transaction: move the
    version, so the read does not find an answer cached before those writes."""
    if connection.in_atomic_block and getattr(connection, "_kronos_read_dirty", False):
        bump()
        connection._kronos_read_dirty = False  # type: ignore[attr-defined]


#: Inside a request (RequestVersionMiddleware): the data version read once and used for every
#: cached read of that request. Safe by the same argument as above: everything the request
#: computes is read after that version was current. A write in the request forgets it.
_request_memo: ContextVar[dict[str, int] | None] = ContextVar("kronos_read_version", default=None)


class RequestVersionMiddleware:
    """Read the data version at most once per request (one cache round trip instead of one per
    cached read: the session user, their device, the page)."""

    def __init__(self, get_response: Callable[[Any], Any]):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _request_memo.set({})
        try:
            return self.get_response(request)
        finally:
            _request_memo.reset(token)


def bump() -> None:
    """Move the data version (after a committed write; and when Redis returns after an outage,
    since the writes made meanwhile could not move it: kronos/cache.py's recovery hook)."""
    memo = _request_memo.get()
    if memo:
        memo.clear()
    try:
        # Seeded from the clock, so a version key lost to eviction restarts above every old one.
        key = f"kronos:read:version:{_scope()}"
        cache.add(key, time.time_ns() // 1000, timeout=None)
        cache.incr(key)
    except Exception:  # the write itself is done and committed; the cache must not undo it
        BUMP_FAILURES.inc()
        logger.warning("read cache: could not move the data version", exc_info=True)


kcache.on_recovery(bump)


def version() -> int:
    memo = _request_memo.get()
    scope = _scope()
    if memo is not None and scope in memo:
        return memo[scope]
    key = f"kronos:read:version:{scope}"
    current = cache.get(key)
    if current is None:
        cache.add(key, time.time_ns() // 1000, timeout=None)
        current = cache.get(key)
    if memo is not None:
        memo[scope] = int(current)
    return int(current)


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL COPY of `rows` (values in `columns` order, as psycopg adapts them) into `table`
    on the default connection, noted as a write. Names are quoted here (an already-quoted name
    is kept); database errors (a unique key taken) raise as Django's."""
    ops = default_connection.ops
    names = ", ".join(ops.quote_name(c) for c in columns)
    with (
        default_connection.wrap_database_errors,
        default_connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {ops.quote_name(table)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    note_write(default_connection)


# --- serving reads --------------------------------------------------------------------------------


_MISSING = object()


def cached(name: str, compute: Callable[[], Any], *, store: Callable[[Any], bool] = lambda _: True) -> Any:
    """`compute()`'s result under `name` and the current data version: from the cache when it
    has it, else computed and kept (when `store(result)`) for READ_CACHE_SECONDS. The version
    is read before anything is computed (see the module docstring)."""
    if not enabled():
        return compute()
    try:
        _settle_own_writes(default_connection)
        key = f"kronos:read:{_scope()}:{version()}:{name}"
        found = cache.get(key, _MISSING)
    except Exception:  # no cache: answer from the database
        logger.warning("read cache unreachable; answering from the database", exc_info=True)
        READS.labels("bypass").inc()
        return compute()
    if found is not _MISSING:
        READS.labels("hit").inc()
        return found
    # One computation per answer: the first reader to miss computes it; readers that miss while
    # it does wait for its answer instead of all asking the database at once (after every write,
    # every busy page would otherwise be computed by every request in flight). The answer is
    # good for them: it was computed after the version they read was current.
    lock = f"{key}:computing"
    try:
        leader = bool(cache.add(lock, 1, timeout=COMPUTE_LOCK_SECONDS))
    except Exception:  # noqa: BLE001 -- no cache: compute, as above
        leader = True
    if not leader:
        found = _wait_for(key, lock)
        if found is not _MISSING:
            READS.labels("shared").inc()
            return found
    try:
        result = compute()
        if store(result):
            READS.labels("miss").inc()
            try:
                cache.set(key, result, timeout=int(settings.READ_CACHE_SECONDS))
            except Exception:  # the answer is good; only its copy is lost
                logger.warning("read cache: could not store an answer", exc_info=True)
    finally:
        if leader:
            try:
                cache.delete(lock)
            except Exception:
                logger.warning("read cache: could not release a computation lock", exc_info=True)
    return result


#: How long one reader may hold an answer's computation for itself (a crashed one included),
#: and how long the others wait for it before computing it themselves.
COMPUTE_LOCK_SECONDS = 30
COMPUTE_WAIT_SECONDS = 2.0


def _wait_for(key: str, lock: str) -> Any:
    """The answer another reader is computing under `lock`: _MISSING when it gave up without
    storing one (an answer not kept, an error) or took longer than COMPUTE_WAIT_SECONDS."""
    deadline = time.monotonic() + COMPUTE_WAIT_SECONDS
    pause = 0.002
    while time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
        try:
            found = cache.get_many([key, lock])
        except Exception:  # noqa: BLE001 -- compute it here
            return _MISSING
        if key in found:
            return found[key]
        if lock not in found:
            return _MISSING
    return _MISSING


def remember(
    request: Any, name: str, compute: Callable[[], Any], *, store: Callable[[Any], bool] = lambda _: True
) -> Any:
    """`cached()` for what one user sees at one URL on one business date. The result must
    pickle and must carry nothing of the session (no CSRF tokens: cache data and fragments,
    not whole pages)."""
    if not request.user.is_authenticated:
        return compute()
    path = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
    htmx = "h" if request.headers.get("HX-Request") else "p"
    day = timezone.localdate().isoformat()
    return cached(f"{name}:{request.user.pk}:{day}:{htmx}:{path}", compute, store=store)


@functools.cache
def csrf_placeholder_text() -> str:
    """What a page rendered for the cache carries where the CSRF token goes (see cached_page).
    The same in every process that shares the cache (derived from SECRET_KEY), and not
    something a user could guess and type into a page."""
    return "kronos-csrf-" + salted_hmac("kronos.readcache.cached_page", "csrf placeholder").hexdigest()[:32]


def csrf_placeholder(request: HttpRequest) -> dict[str, str]:
    """Context processor (after Django's csrf one): while cached_page renders, the CSRF token
    in the page is the placeholder, put back per request on the way out."""
    return {"csrf_token": csrf_placeholder_text()} if getattr(request, "_kronos_csrf_placeholder", False) else {}


def cached_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve a page's 200 answers from the cache, whole, until the data changes.

    The page is what one signed-in user sees at one URL (query string included), on one
    business date, full or as an htmx partial, under the current data version: the same key as
    `remember()`. The view runs on a miss with every check it makes; the decorators outside
    this one (`login_required`) and the middleware (second factor, idle timeout) run always.
    What belongs to the session is kept out of the cached copy: the CSRF token is rendered as
    csrf_placeholder_text() and replaced by this request's masked token, and a request with flash
    messages waiting is rendered fresh and not cached. Only GET; redirects and errors are
    never cached.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "GET" or not enabled() or len(get_messages(request)):
            return view(request, *args, **kwargs)
        answer: HttpResponse | None = None

        def compute() -> tuple[bytes, str, str] | None:
            nonlocal answer
            request._kronos_csrf_placeholder = True  # type: ignore[attr-defined]
            try:
                answer = view(request, *args, **kwargs)
            finally:
                request._kronos_csrf_placeholder = False  # type: ignore[attr-defined]
            if answer.status_code != 200 or answer.streaming or answer.cookies:
                return None
            return answer.content, answer["Content-Type"], answer.get("Vary", "")

        stored = remember(request, "page", compute, store=lambda result: result is not None)
        token, placeholder = get_token(request).encode(), csrf_placeholder_text().encode()
        if answer is None:
            content, content_type, vary = stored
            answer = HttpResponse(content.replace(placeholder, token), content_type=content_type)
            if vary:
                answer["Vary"] = vary
        elif not answer.streaming:
            answer.content = answer.content.replace(placeholder, token)
        return answer

    return wrapper


def cached_read(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve a GET API view's 200 answers from the cache (see the module docstring).

    Wraps the view's handler, so DRF has authenticated, checked permissions, negotiated the
    format and throttled before the cache is asked: the key names the user, and nothing skips
    a check. JSON answers are kept rendered (bytes, keyed by the negotiated media type, so
    `indent` and friends are honoured); other formats (the browsable API) are not cached.
    For class views: `@method_decorator(cached_read, name="get")`.
    """

    @functools.wraps(view)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> Any:
        renderer = getattr(request, "accepted_renderer", None)
        if request.method != "GET" or not isinstance(renderer, JSONRenderer):
            return view(request, *args, **kwargs)
        media_type = request.accepted_media_type
        answer: Any = None

        def compute() -> bytes | None:
            nonlocal answer
            answer = view(request, *args, **kwargs)
            if not isinstance(answer, Response) or answer.status_code != 200:
                return None
            return renderer.render(answer.data, media_type, {"request": request, "response": answer})

        body = remember(request, f"api:{media_type}", compute, store=lambda result: result is not None)
        if answer is not None:  # computed here: DRF renders it as usual
            return answer
        return HttpResponse(body, content_type=_content_type(renderer))

    return wrapper


def _content_type(renderer: JSONRenderer) -> str:
    """What DRF's Response would have set for this renderer."""
    return f"{renderer.media_type}; charset={renderer.charset}" if renderer.charset else renderer.media_type
