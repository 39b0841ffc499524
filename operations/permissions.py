"""Every role rule of operations: who works the operations pages, and which firm's rows
(reconciliation breaks, billing runs, a job run's errors) a user sees. Views and selectors ask
here; none of them writes a role check of its own."""

from typing import Any

from django.db.models import Q

from accounts.models import Role, User


def is_operations_staff(user: User) -> bool:
    """Operations staff of a firm, or a superuser."""
    return bool(user.is_superuser or (Role.OPERATIONS in user.roles and user.firm_id))


def firm_q(user: User, prefix: str) -> Q:
    """A superuser sees every firm's rows, staff their own firm's, a user of no firm none."""
    if user.is_superuser:
        return Q()
    if not user.firm_id:
        return Q(pk__in=[])
    return Q(**{f"{prefix}firm_id": user.firm_id})


def job_errors_visible(user: User, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Job runs are platform-wide; their errors are filtered per firm (errors of the run as a
    whole, with no firm, are shown to everyone)."""
    if user.is_superuser:
        return list(errors)
    return [e for e in errors if e.get("firm_id") in (None, user.firm_id)]
