from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


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
