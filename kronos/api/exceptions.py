"""One JSON error shape for the whole API.

Domain errors (each app's `<App>Error`, all subclasses of `kronos.errors.DomainError`)
become 400s with field errors; Django's own validation and 404s become DRF's; nothing
a client can send produces a 500. Every error body is an object with `detail` (words) and
`code` (a name), beside any field errors: the `Error` component of the schema
(kronos/api/schema.py).
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kronos.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.as_dict(), code=exc.code), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"non_field_errors": exc.messages})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        response.data = {"detail": response.data.get("detail", "Too many requests.")}
    code = exc.default_code if isinstance(exc, exceptions.APIException) else "error"
    response.data = error_body(response.data, code=code if isinstance(code, str) else "error")
    return response


def error_body(data: Any, *, code: str) -> dict[str, Any]:
    """`data` as the API's one error shape: an object with `detail` and `code` (kept when
    present) beside the field errors. A bare list of messages becomes `non_field_errors`."""
    if isinstance(data, list):
        data = {"non_field_errors": data}
    elif not isinstance(data, dict):
        data = {"detail": str(data)}
    body = dict(data)
    if not isinstance(body.get("detail"), str):
        body["detail"] = _first_message(body) or "The request is invalid."
    if not isinstance(body.get("code"), str):
        body["code"] = code
    return body


def _first_message(errors: Any) -> str | None:
    """The first message of a (nested) field-errors structure, for `detail`."""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, dict):
        for key, value in errors.items():
            found = _first_message(value)
            if found:
                return found if key == "non_field_errors" else f"{key}: {found}"
    elif isinstance(errors, list):
        for value in errors:
            found = _first_message(value)
            if found:
                return found
    return None
