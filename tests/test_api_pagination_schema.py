"""kronos.api.pagination.paginated: the documented shape of a page, for function views."""

from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from kronos.api.pagination import paginated


class ThingOutput(serializers.Serializer):
    id = serializers.IntegerField()


@extend_schema(responses=paginated(ThingOutput))
@api_view(["GET"])
def things(request):
    return Response()


def test_a_paginated_response_is_documented_as_the_paginators_envelope():
    schema = SchemaGenerator(patterns=[path("things/", things)]).get_schema(request=None, public=True)
    ref = schema["paths"]["/things/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert page["type"] == "object"
    assert set(page["required"]) == {"count", "next", "previous", "results"}
    assert page["properties"]["results"] == {"type": "array", "items": {"$ref": "#/components/schemas/ThingOutput"}}
    assert page["properties"]["next"]["nullable"] is True
