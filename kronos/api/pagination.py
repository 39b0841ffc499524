import re
from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

_WHOLE = re.compile(r"[0-9]+", re.ASCII)


class Pagination(PageNumberPagination):
    """Pages of 50 (`page_size` up to 500; larger asks get 500). A `page` or `page_size` that is not
    a whole number from 1 is refused with a 400 (DRF would quietly fall back to the default)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        errors = {
            name: ["Give a whole number from 1."]
            for name in (self.page_query_param, self.page_size_query_param)
            if name in request.query_params and not _positive_whole(request.query_params[name], name)
        }
        if errors:
            raise serializers.ValidationError(errors)
        return super().paginate_queryset(queryset, request, view)

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
