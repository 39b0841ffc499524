"""Writes to firms, their advisors and households; a firm's business date."""

from datetime import date
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.errors import AccountsError
from accounts.models import (
    Advisor,
    Firm,
    Household,
    Role,
    User,
)
from accounts.permissions import may_change_privileges
from accounts.services.events import event_emit
from kronos.history import save_attributed


@transaction.atomic
def firm_create(*, name: str, acting_user: User | None, slug: str = "", time_zone: str = "America/New_York") -> Firm:
    firm = Firm(name=name.strip(), slug=slug or slugify(name)[:60], time_zone=time_zone)
    try:
        return save_attributed(firm, acting_user=acting_user, reason="firm created")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc


@transaction.atomic
def advisor_create(*, user: User, firm: Firm, acting_user: User | None, crd_number: str = "") -> Advisor:
    """Make `user` an advisor of `firm` (the advisor role): a superuser's decision, never their own."""
    if not may_change_privileges(acting_user=acting_user, user=user):
        raise AccountsError("Only a superuser grants the advisor role, and not to themselves.", field="user")
    advisor = Advisor(user=user, firm=firm, crd_number=crd_number)
    try:
        save_attributed(advisor, acting_user=acting_user, reason="advisor created")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc
    user.groups.add(Group.objects.get(name=Role.ADVISOR))
    if user.firm_id != firm.pk:
        user.firm = firm
        save_attributed(user, acting_user=acting_user, reason="joined firm", validate=False)
    return advisor


@transaction.atomic
def household_create(
    *, firm: Firm, name: str, advisor: Advisor, acting_user: User | None, notes: str = ""
) -> Household:
    """Create a household advised by `advisor`, who must belong to the same firm."""
    if advisor.firm_id != firm.pk:
        raise AccountsError("The advisor does not belong to this firm.", field="advisor")
    household = Household(firm=firm, name=name.strip(), advisor=advisor, notes=notes)
    if Household.objects.filter(firm=firm, name=household.name).exists():
        raise AccountsError("A household with this name already exists in the firm.", field="name", status_code=409)
    try:
        save_attributed(household, acting_user=acting_user, reason="household created")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc
    except IntegrityError as exc:
        raise AccountsError(
            "A household with this name already exists in the firm.", field="name", status_code=409
        ) from exc
    event_emit(
        kind="household.created",
        firm=firm,
        household=household,
        subject_type="household",
        subject_id=household.pk,
        payload={"household": household.pk, "name": household.name, "status": household.status, "advisor": advisor.pk},
    )
    return household


HOUSEHOLD_EDITABLE_FIELDS = frozenset({"name", "status", "notes", "advisor"})


@transaction.atomic
def household_update(
    *, household: Household, acting_user: User | None, reason: str = "household updated", **changes: object
) -> Household:
    """Change a household's name, status, notes or advisor; validated, with history."""
    unknown = set(changes) - HOUSEHOLD_EDITABLE_FIELDS
    if unknown:
        raise AccountsError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    household = Household.objects.select_for_update().get(pk=household.pk)
    for field, value in changes.items():
        setattr(household, field, value.strip() if isinstance(value, str) and field == "name" else value)
    if "advisor" in changes and household.advisor.firm_id != household.firm_id:
        raise AccountsError("The advisor does not belong to this household's firm.", field="advisor")
    try:
        return save_attributed(household, acting_user=acting_user, reason=reason)
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc


def firm_today(firm: Firm) -> date:
    """The firm's business date (its own time zone), which ages and birth dates are judged on."""
    try:
        return timezone.localdate(timezone=ZoneInfo(firm.time_zone))
    except (KeyError, ValueError):
        return timezone.localdate()
