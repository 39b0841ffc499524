"""Query-string parameters read the same way by every API view (see kronos/inputs.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

#: The largest id a 64-bit primary key holds; a larger one is a 400, not an OverflowError.
MAX_ID = 2**63 - 1


#: How the schema documents an id in a query parameter: what parse_id() takes.
ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def parse_id(raw: str, *, name: str) -> int:
    """An id (ASCII digits, from 1, within a 64-bit integer), else a ValidationError naming `name`."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        raise serializers.ValidationError({name: ["Give an id (a whole number from 1)."]})
    if len(text) > 19 or int(text) > MAX_ID:
        raise serializers.ValidationError({name: [f"The id is too large (at most {MAX_ID})."]})
    if int(text) < 1:
        raise serializers.ValidationError({name: ["Give an id (a whole number from 1)."]})
    return int(text)


def id_parameter(name: str, description: str = "") -> OpenApiParameter:
    """The query parameter `name` holding an id, documented as parse_id() reads it."""
    return OpenApiParameter(name, ID_SCHEMA, description=description or f"Only those of this {name} (its id).")  # type: ignore[arg-type]


def query_id(request: Any, name: str) -> int | None:
    """The id in query parameter `name`, None when absent or empty (see parse_id)."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    return parse_id(raw, name=name)
