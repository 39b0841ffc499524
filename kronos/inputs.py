"""What no view should have to check for itself: NUL characters, deeply nested JSON and ids
out of range. Each is refused here with a 400 and a clear message, for every URL.

- `RejectNulMiddleware`: a NUL (U+0000) in the path or in any query parameter name or value is
  a 400 before any view runs (PostgreSQL text cannot hold NUL: `?search=%00` was a 500 on every
  search). Form fields are covered by Django's own ProhibitNullCharactersValidator.
- `JSONParser` (DRF's DEFAULT_PARSER_CLASSES) and `loads_json()` (webhooks): JSON nested deeper
  than MAX_JSON_DEPTH, or with a NUL in any string, is a parse error (a 400), never a
  RecursionError or a database error (a 500).
- `kronos.api.params.query_id()` reads an id from the query string: ASCII digits within a
  64-bit integer, else a 400 naming the parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from rest_framework import parsers
from rest_framework.exceptions import ParseError

#: Deeper than any document the API or a provider sends (orders and proposals nest 3-4 levels).
MAX_JSON_DEPTH = 32
NUL = "\x00"


class JSONInputError(ValueError):
    """JSON that parses but must not be taken: too deep, or with a NUL character."""


def check_json(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise JSONInputError if `data` nests deeper than `max_depth` or holds a NUL in a string."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise JSONInputError("a string contains a NUL character (\\u0000)")
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise JSONInputError(f"nested deeper than {max_depth} levels")
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if isinstance(key, str) and NUL in key:
                    raise JSONInputError("a key contains a NUL character (\\u0000)")
                stack.append((item, depth + 1))


def loads_json(body: bytes | str) -> Any:
    """json.loads with the checks above; ValueError (JSONInputError included) for anything refused."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise JSONInputError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_json(data)
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested too deep or carrying NUL characters."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        try:
            check_json(data)
        except JSONInputError as exc:
            raise ParseError(f"JSON parse error - {exc}.") from None
        return data


class RejectNulMiddleware:
    """400 for a NUL character in the path or the query string (see the module docstring)."""

    MESSAGE = "The request contains a NUL character (%00), which no parameter may hold."

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path or any(
            NUL in key or any(NUL in value for value in values) for key, values in request.GET.lists()
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": self.MESSAGE, "code": "nul_character"}, status=400)
            return HttpResponseBadRequest(self.MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
