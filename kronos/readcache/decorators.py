"""Serving pages and API reads from the cache: `cached_page`, `cached_read` and the CSRF placeholder."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.crypto import salted_hmac
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from kronos.readcache.answers import remember
from kronos.readcache.versions import enabled

logger = logging.getLogger(__name__)


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
    never cached. While the page is computed for the cache, the view's own `remember()`s compute
    their parts without asking the cache (see `remember`).
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "GET" or not enabled() or len(get_messages(request)):
            return view(request, *args, **kwargs)
        answer: HttpResponse | None = None

        def compute() -> tuple[bytes, str, str] | None:
            nonlocal answer
            request._kronos_csrf_placeholder = True  # type: ignore[attr-defined]
            request._kronos_computing_page = True  # type: ignore[attr-defined]
            try:
                answer = view(request, *args, **kwargs)
            finally:
                request._kronos_csrf_placeholder = False  # type: ignore[attr-defined]
                request._kronos_computing_page = False  # type: ignore[attr-defined]
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
        if body is None:  # computed here and not kept (not a 200, not a Response): as the view gave it
            return answer
        # Computed here or not, the answer is the body already rendered (once), as the cache
        # keeps it; headers the view set go with it.
        response = HttpResponse(body, content_type=_content_type(renderer))
        if answer is not None:
            for header, value in answer.items():
                if header.lower() != "content-type":
                    response[header] = value
        return response

    return wrapper


def _content_type(renderer: JSONRenderer) -> str:
    """What DRF's Response would have set for this renderer."""
    return f"{renderer.media_type}; charset={renderer.charset}" if renderer.charset else renderer.media_type
