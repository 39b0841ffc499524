"""The OpenAPI schema's shared parts: the error answers, the Idempotency-Key header, pagination.

`KronosAutoSchema` (settings.REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) documents on every
operation what the shared machinery answers, so no view has to list it by hand:

- 400, 401, 403, 404 and 429 with the one error body (`Error`) the exception handler
  (kronos/api/exceptions.py) writes; 409 on every write (a domain conflict); 422 on the
  operations that take an `Idempotency-Key` (a key reused with another request).
- the `Idempotency-Key` header with the constraints `kronos.idempotency` checks
  (`IDEMPOTENCY_KEY_SCHEMA`), whichever view declared it;
- `page` and `page_size` on the function views that answer a page (`paginated(...)`);
- `additionalProperties: false` on a request body an `InputSerializer` reads (it refuses
  unknown keys and values of another JSON type, kronos/api/fields.py);
- `minProperties` on an input serializer that sets `schema_min_properties` (a PATCH that
  refuses an empty body says so).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from kronos.api.decimals import MAX_INPUT_LENGTH as MAX_DECIMAL_INPUT_LENGTH
from kronos.api.fields import DecimalStringField, InputSerializer, MoneyField
from kronos.api.headers import HEADER, KEY_PATTERN, MAX_KEY_LENGTH
from kronos.api.pagination import Pagination
from kronos.api.permissions import READ_SCOPE, TRADE_SCOPE

ERROR_COMPONENT = "Error"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Every 4xx answer of the API. `detail` says what went wrong in words a person can read; "
        "`code` names it for programs. A refused input also carries its field errors: each "
        "offending field's name with a list of messages (or, for a nested object or a list "
        "of objects, an object of the same shape keyed by field name or row index); "
        "`non_field_errors` holds those that belong to no one field."
    ),
    "properties": {
        "detail": {"type": "string", "description": "What went wrong."},
        "code": {"type": "string", "description": "A stable name for the error, e.g. `not_found`, `invalid`."},
    },
    "required": ["detail", "code"],
    "additionalProperties": {
        "description": "A field's errors: a list of messages, or an object of nested field errors.",
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}],
    },
}

ERROR_DESCRIPTIONS = {
    "400": "The request is invalid: field errors say which input and why.",
    "401": "No valid bearer token: send `Authorization: Bearer <token>`.",
    "403": "The token lacks the scope, or the user the role, this operation needs.",
    "404": "No such object, or not one the user may see.",
    "409": "The request conflicts with the object's state (or a request with this Idempotency-Key is in progress).",
    "422": "This Idempotency-Key was already used for another request.",
    "429": "Too many requests: wait the `Retry-After` seconds and retry.",
}

IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": KEY_PATTERN,
}

IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    IDEMPOTENCY_KEY_SCHEMA,  # type: ignore[arg-type]  # drf-spectacular takes a raw schema here
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "Unique per request (e.g. a UUID), at most 255 visible ASCII characters; send the same key "
        "when you retry and the first answer comes back instead of a second execution."
    ),
)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

#: Per schema generation (its registry): the request bodies that must not be empty.
_MIN_PROPERTIES_BODIES: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()

#: A string without NUL (DRF's CharField refuses one; PostgreSQL text cannot hold it).
NO_NUL_PATTERN = r"^[^\x00]*$"
#: ... that also holds something besides whitespace (DRF trims a value, then refuses it blank).
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


def decimal_input_schema(pattern: str, low: Any, exclusive: bool, high: Any) -> dict[str, Any]:
    """A decimal input as the fields take it (kronos/api/fields.py): a string of the pattern, or a
    JSON integer within the same bounds (a JSON float is refused)."""
    return {
        "oneOf": [
            {"type": "string", "pattern": pattern, "maxLength": MAX_DECIMAL_INPUT_LENGTH},
            {"type": "integer", "minimum": int(low) + (1 if exclusive else 0), "maximum": int(high)},
        ],
        "description": "A decimal as a string (or a JSON integer); JSON floats are refused.",
    }


def money_input_schema(field: Any) -> dict[str, Any]:
    """Money as MoneyField takes it: the amount with at most its currency's places, the currency
    (any letter case) one of those accepted. One branch per number of places."""

    def currency_pattern(currencies: list[str]) -> str:
        return "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in currencies) + ")$"

    def amount(places: int) -> dict[str, Any]:
        pattern = field.amount_pattern(places)
        return decimal_input_schema(pattern, 0, not field.allow_zero, field.max_amount)

    groups = field.currencies_by_places()
    branches = [
        {
            "type": "object",
            "properties": {
                "amount": amount(places),
                "currency": {"type": "string", "pattern": currency_pattern(codes)},
            },
            "required": ["amount", "currency"],
            "additionalProperties": False,
        }
        for places, codes in sorted(groups.items(), reverse=True)
    ]
    if len(branches) == 1:
        return branches[0]
    return {"oneOf": branches, "description": "An amount with at most its currency's minor-unit places."}


class BearerTokenScheme(DjangoOAuthToolkitScheme):
    """The OAuth2 bearer token, with the scope kronos.api.permissions.HasScopeForMethod asks:
    `read` to read, `trade` to write (or the view's `required_scope`)."""

    priority = 1

    def get_security_requirement(self, auto_schema: Any) -> Any:
        needed = getattr(auto_schema.view, "required_scope", None) or (
            TRADE_SCOPE if auto_schema.method in WRITE_METHODS else READ_SCOPE
        )
        return {self.name: [needed]}


class KronosAutoSchema(AutoSchema):
    def get_operation_id(self) -> str:
        """drf-spectacular names a GET `<path>_retrieve` unless the view is a generic list view; a
        function view answering a page (`paginated(...)`) lists, so its GET is `<path>_list` (and
        `GET /orders/` no longer collides with `GET /orders/{id}/` as `orders_retrieve_2`)."""
        operation_id = super().get_operation_id()
        if self.method == "GET" and operation_id.endswith("_retrieve") and self._answers_a_page():
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _answers_a_page(self) -> bool:
        serializer = self.get_response_serializers()
        if isinstance(serializer, dict) and serializer:
            serializer = serializer.get(200, serializer.get("200"))
        name = type(serializer).__name__ if serializer is not None else ""
        if name == "InlineSerializer":
            name = getattr(serializer, "name", "") or ""
        return name.startswith("Paginated") and name.endswith("List")

    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any) -> Any:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        idempotent = False
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"].lower() == HEADER.lower():
                parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)  # required as the view declares it
                parameter.setdefault("description", IDEMPOTENCY_KEY.description)
                idempotent = True
        self._add_page_parameters(operation)
        self._add_error_responses(operation, idempotent=idempotent)
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter["in"] == "query" and schema.get("type") == "string" and "pattern" not in schema:
                schema["pattern"] = NO_NUL_PATTERN  # kronos.inputs.RejectNulMiddleware refuses a NUL anywhere
        body = operation.get("requestBody")
        if body and any(
            c.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1] in self._bodies_needing_content
            for c in body.get("content", {}).values()
        ):
            body["required"] = True  # an empty body is refused: it has nothing to change or do
        return operation

    @property
    def _bodies_needing_content(self) -> set[str]:
        """The request components (of this generation's registry) that set minProperties."""
        return _MIN_PROPERTIES_BODIES.setdefault(self.registry, set())

    def _error_ref(self) -> dict[str, str]:
        component = ResolvedComponent(
            name=ERROR_COMPONENT, type=ResolvedComponent.SCHEMA, object=ERROR_COMPONENT, schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _add_error_responses(self, operation: dict[str, Any], *, idempotent: bool) -> None:
        codes = ["400", "401", "403", "404", "429"]
        if self.method in WRITE_METHODS:
            codes.append("409")
        if idempotent:
            codes.append("422")
        responses = operation.setdefault("responses", {})
        for code in codes:
            existing = responses.get(code)
            if existing is not None and existing.get("content"):
                continue
            responses[code] = {
                "description": (existing or {}).get("description") or ERROR_DESCRIPTIONS[code],
                "content": {"application/json": {"schema": self._error_ref()}},
            }
        if "429" in responses:
            responses["429"].setdefault(
                "headers",
                {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}},
            )

    def _add_page_parameters(self, operation: dict[str, Any]) -> None:
        """A function view answering `paginated(...)` takes the paginator's query parameters."""
        ok = operation.get("responses", {}).get("200", {})
        ref = ok.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        if not (ref.rsplit("/", 1)[-1].startswith("Paginated") and ref.endswith("List")):
            return
        parameters = operation.setdefault("parameters", [])
        have = {(p["name"], p["in"]) for p in parameters}
        for parameter in Pagination().get_schema_operation_parameters(self.view):
            if (parameter["name"], parameter["in"]) not in have:
                parameters.append(parameter)

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        """A string input says what DRF's CharField refuses: a NUL character always, and a value of
        only whitespace unless it may be blank (DRF trims it to "" first)."""
        if direction == "request" and isinstance(field, DecimalStringField):
            pattern = field.schema_pattern()
            if pattern is not None:
                schema = decimal_input_schema(pattern, field.min_value, field.min_exclusive, field.max_value)
                if field.allow_null:
                    schema["nullable"] = True
                return schema
        if direction == "request" and isinstance(field, MoneyField) and not field.allow_negative:
            return money_input_schema(field)
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        plain = type(field) in (serializers.CharField,)
        if direction == "request" and plain and isinstance(schema, dict) and "pattern" not in schema:
            if field.allow_blank or not field.trim_whitespace:
                schema["pattern"] = NO_NUL_PATTERN
            else:
                schema["pattern"] = NOT_BLANK_PATTERN
        return schema

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        min_properties = getattr(serializer, "schema_min_properties", None)
        if direction == "request" and min_properties:
            schema["minProperties"] = min_properties
            self._bodies_needing_content.add(self._get_serializer_name(serializer, direction))
        if direction == "request" and isinstance(serializer, InputSerializer):
            schema["additionalProperties"] = False  # InputSerializer refuses a key that names no field
        return schema
