"""The base of every request body: `InputSerializer`, a body taken exactly as the schema says."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


# A request body taken exactly as the schema describes it (kronos/api/schema.py documents such a
# body with `additionalProperties: false`). (Comments, not a docstring: drf-spectacular would
# print a docstring as the description of every input component.)
# - a key that names no field is refused (DRF would ignore it);
# - a boolean field takes only JSON `true`/`false` (DRF also takes 0/1, "yes", "on"...);
# - a string field takes only a JSON string (DRF also takes 12 and 1.5 and makes them text);
# - an integer field takes only a JSON integer (DRF also takes "12" and 12.0).
# Nested inputs and list items follow the same rules when they are InputSerializers.
class InputSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return super().to_internal_value(data)
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            if name in data and not field.read_only:
                message = json_type_error(field, data[name])
                if message:
                    errors[name] = [message]
        unknown = sorted(str(key) for key in data if key not in self.fields or self.fields[key].read_only)
        try:  # the other fields' own errors too, in one answer
            value = super().to_internal_value({k: v for k, v in data.items() if k not in errors})
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            errors = {**detail, **errors}
        if unknown:
            errors.setdefault("non_field_errors", []).append(f"Unknown field(s): {', '.join(unknown)}.")
        if errors:
            raise serializers.ValidationError(errors)
        return value


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    """Why `value` is not of the JSON type `field` documents, or None when it is (null is left to
    the field's allow_null)."""
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Must be a string."
    if (
        isinstance(field, serializers.ChoiceField)
        and not isinstance(field, serializers.MultipleChoiceField)
        and not isinstance(value, str)
    ):
        return "Must be one of the documented strings."
    if isinstance(field, serializers.IntegerField) and (isinstance(value, bool) or not isinstance(value, int)):
        return "Must be a whole number (a JSON integer)."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for item in value:
            message = json_type_error(field.child, item)
            if message:
                return message
    return None
