"""The OpenAPI schema's shared parts: the error answers, the Idempotency-Key header, pagination.

`KronosAutoSchema` (settings.REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) documents on every
operation what the shared machinery answers, so no view has to list it by hand:

- 400, 401, 403, 404 and 429 with the one error body (`Error`) the exception handler
  (kronos/api/exceptions.py) writes; 409 on every write (a domain conflict); 422 on the
  operations that take an `Idempotency-Key` (a key reused with another request).
- the `Idempotency-Key` header with the constraints `kronos.idempotency` checks
  (`IDEMPOTENCY_KEY_SCHEMA`), whichever view declared it;
- `page` and `page_size` on the function views that answer a page (`paginated(...)`);
- `minProperties` on an input serializer that sets `schema_min_properties` (a PATCH that
  refuses an empty body says so).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter

from kronos.idempotency import HEADER, KEY_PATTERN, MAX_KEY_LENGTH

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


class BearerTokenScheme(DjangoOAuthToolkitScheme):
    """The OAuth2 bearer token, with the scope kronos.api.permissions.HasScopeForMethod asks:
    `read` to read, `trade` to write (or the view's `required_scope`)."""

    priority = 1

    def get_security_requirement(self, auto_schema: Any) -> Any:
        from kronos.api.permissions import READ_SCOPE, TRADE_SCOPE

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
        return operation

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
        from kronos.api.pagination import Pagination

        parameters = operation.setdefault("parameters", [])
        have = {(p["name"], p["in"]) for p in parameters}
        for parameter in Pagination().get_schema_operation_parameters(self.view):
            if (parameter["name"], parameter["in"]) not in have:
                parameters.append(parameter)

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        min_properties = getattr(serializer, "schema_min_properties", None)
        if direction == "request" and min_properties:
            schema["minProperties"] = min_properties
        return schema
