"""What the compliance services share: saving with the acting user, and notes on a case."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from compliance.errors import ComplianceError
from compliance.models import AMLCase, KYCVerification, SuitabilityCase
from kronos.history import save_attributed


def save_or_error(instance: Any, *, acting_user: User | None, reason: str) -> Any:
    try:
        return save_attributed(instance, acting_user=acting_user, reason=reason)
    except ValidationError as exc:
        raise ComplianceError.from_validation(exc) from exc


def append_note(existing: str, *, note: str, acting_user: User | None) -> str:
    note = (note or "").strip()
    if not note:
        return existing
    who = acting_user.get_full_name() if acting_user else "system"
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    line = f"[{stamp} {who}] {note}"
    return f"{existing}\n{line}" if existing else line


@transaction.atomic
def case_add_note(*, case: AMLCase | SuitabilityCase | KYCVerification, note: str, acting_user: User) -> Any:
    """Add a note to a case without deciding it."""
    if not (note or "").strip():
        raise ComplianceError("The note is empty.", field="note")
    case = type(case).objects.select_for_update().get(pk=case.pk)
    case.notes = append_note(case.notes, note=note, acting_user=acting_user)
    return save_or_error(case, acting_user=acting_user, reason="note added")
