"""The base of every app's domain error.

Each app defines one subclass (`AccountsError`, `PortfoliosError`, `TradingError`,
`ComplianceError`). A service raises it with a message a user can read and, where the
error belongs to an input, the field it belongs to. Views turn it into a form error,
the API into a 400 with field errors, commands into one line and a non-zero exit.
"""

from typing import Any, Self

from django.core.exceptions import ValidationError


class DomainError(Exception):
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str = "invalid",
        errors: dict[str, list[str]] | None = None,
        status_code: int | None = None,
    ):
        super().__init__(message)
        if status_code is not None:  # e.g. 409: the request is well formed but the records' state refuses it
            self.status_code = status_code
        self.message = message
        self.field = field
        self.code = code
        self.errors = errors

    @classmethod
    def from_validation(cls, exc: ValidationError) -> Self:
        """The domain error for a model's `full_clean()` failure, keeping its field errors."""
        if hasattr(exc, "error_dict"):
            errors = {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
            first_field = next(iter(errors))
            field = None if first_field == "__all__" else first_field
            if "__all__" in errors:
                errors["non_field_errors"] = errors.pop("__all__")
            return cls(next(iter(errors.values()))[0], field=field, errors=errors)
        return cls("; ".join(exc.messages))

    def as_dict(self) -> dict[str, Any]:
        if self.errors:
            return {**self.errors, "detail": self.message}
        if self.field:
            return {self.field: [self.message], "detail": self.message}
        return {"detail": self.message, "code": self.code}


class ConflictError(DomainError):
    """The request conflicts with the state of a record (e.g. an idempotency key reused)."""

    status_code = 409
