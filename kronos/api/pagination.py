import re
from collections.abc import Callable
from typing import Any

from django.core.paginator import Page
from django.core.paginator import Paginator as DjangoPaginator
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

from kronos.db import LARGEST_OFFSET

_WHOLE = re.compile(r"[0-9]+", re.ASCII)


class Pagination(PageNumberPagination):
    """Pages of 50 (`page_size` up to 500; larger asks get 500). A `page` or `page_size` that is not
    a whole number from 1 is refused with a 400 (DRF would quietly fall back to the default)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        self._check(request)
        return super().paginate_queryset(queryset, request, view)

    def _check(self, request: Any) -> None:
        errors = {
            name: ["Give a whole number from 1."]
            for name in (self.page_query_param, self.page_size_query_param)
            if name in request.query_params and not _positive_whole(request.query_params[name], name)
        }
        if errors:
            raise serializers.ValidationError(errors)

    def paginate_counted(
        self, fetch: Callable[[int, int], tuple[list[Any], int]], queryset: Callable[[], Any], request: Any
    ) -> list[Any]:
        """`paginate_queryset` for a read that counts all its rows with its page (a window
        aggregate): one query where DRF asks two (a count, then the page). `fetch(offset, limit)`
        gives the page's rows and the count of every row. "last", and a page past the last (no
        rows, or further than any database offset), go through `queryset()` and
        `paginate_queryset`: the same last page, or 404."""
        self._check(request)
        page_size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param) or "1"
        if not page_size or raw in self.last_page_strings:
            return self.paginate_queryset(queryset(), request)  # type: ignore[no-any-return]
        number = int(raw)
        offset = (number - 1) * page_size
        rows, count = fetch(offset, page_size) if offset <= LARGEST_OFFSET else ([], 0)
        if not rows and number > 1:
            return self.paginate_queryset(queryset(), request)  # type: ignore[no-any-return]
        self.request = request
        paginator = DjangoPaginator(range(count), page_size)  # the count alone: the rows are read
        self.page = Page(rows, number, paginator)  # type: ignore[arg-type]
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return rows

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "A page number within the paginated result set.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}; above {self.max_page_size} counts as {self.max_page_size}).",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]


def _positive_whole(value: str, name: str) -> bool:
    if name == "page" and value in PageNumberPagination.last_page_strings:
        return True
    return bool(_WHOLE.fullmatch(value)) and int(value) >= 1


def paginated(item_serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """The documented shape of a `Pagination` page of `item_serializer` items, for function
    views: `@extend_schema(responses=paginated(AccountOutput))`. (drf-spectacular wraps a list
    response in the paginator's envelope only for generic list views; a function view that
    returns `paginator.get_paginated_response(...)` must say so, or its schema claims a bare array.)"""
    name = item_serializer.__name__.removesuffix("Serializer").removesuffix("Output")
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item_serializer(many=True),
        },
    )
