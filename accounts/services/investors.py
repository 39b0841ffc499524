"""Writes to investors: creation, household membership, customer identification (onboarding)."""

from datetime import date

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts import crypto, identification
from accounts.errors import AccountsError
from accounts.models import (
    EmploymentStatus,
    Firm,
    Household,
    HouseholdMember,
    IncomeRange,
    InvestmentObjective,
    Investor,
    NetWorthRange,
    Role,
    User,
)
from accounts.permissions import may_grant_roles
from accounts.services.firms import firm_today
from kronos.history import save_attributed


def investor_create(
    *,
    firm: Firm,
    first_name: str,
    last_name: str,
    acting_user: User | None,
    household: Household | None = None,
    relationship: str = HouseholdMember.Relationship.PRIMARY,
    email: str = "",
    date_of_birth: date | None = None,
    country: str = "US",
    user: User | None = None,
) -> Investor:
    """Create an investor (optionally with a login) and add them to a household."""
    if date_of_birth and date_of_birth > timezone.localdate():
        raise AccountsError("The date of birth cannot be in the future.", field="date_of_birth")
    if user is not None and not may_grant_roles(acting_user=acting_user, roles=[Role.INVESTOR], user=user):
        raise AccountsError("Only a superuser gives this login the investor role.", field="user")
    investor = Investor(
        firm=firm,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email,
        date_of_birth=date_of_birth,
        country=country.upper(),
        user=user,
    )
    try:
        save_attributed(investor, acting_user=acting_user, reason="investor created")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc
    if user is not None:
        user.groups.add(Group.objects.get(name=Role.INVESTOR))
    if household is not None:
        household_add_member(household=household, investor=investor, relationship=relationship, acting_user=acting_user)
    return investor


@transaction.atomic
def household_add_member(
    *,
    household: Household,
    investor: Investor,
    acting_user: User | None,
    relationship: str = HouseholdMember.Relationship.PRIMARY,
) -> HouseholdMember:
    if investor.firm_id != household.firm_id:
        raise AccountsError("The investor is a client of another firm.", field="investor")
    if HouseholdMember.objects.filter(household=household, investor=investor).exists():
        raise AccountsError("The investor is already a member of this household.", field="investor")
    member = HouseholdMember(household=household, investor=investor, relationship=relationship)
    try:
        return save_attributed(member, acting_user=acting_user, reason="member added")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc


REQUIRED_IDENTIFICATION = (
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "tax_id",
    "citizenship",
    "address_line1",
    "city",
    "postal_code",
    "country",
    "employment_status",
    "annual_income",
    "net_worth",
    "investment_objective",
)
IDENTIFICATION_FIELDS = frozenset(
    {
        *REQUIRED_IDENTIFICATION,
        "middle_name",
        "address_line2",
        "state",
        "tax_residency",
        "employer",
        "occupation",
        "trusted_contact_name",
        "trusted_contact_relationship",
        "trusted_contact_phone",
        "trusted_contact_email",
    }
)
_CHOICES = {
    "employment_status": EmploymentStatus,
    "annual_income": IncomeRange,
    "net_worth": NetWorthRange,
    "investment_objective": InvestmentObjective,
}
_LABELS = {
    "address_line1": "The street address",
    "tax_id": "The taxpayer id",
    "date_of_birth": "The date of birth",
    "postal_code": "The postal code",
}


def _identification_errors(
    data: dict[str, object], *, firm: Firm, required: bool, on_file: Investor | None = None
) -> dict[str, list[str]]:
    """Field errors of identification data (and normalises it in place). Collects every error
    so a form or API caller can fix them all at once."""
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field, value in list(data.items()):
        if isinstance(value, str):
            data[field] = value.strip()
    if required:
        for field in REQUIRED_IDENTIFICATION:
            if data.get(field) in (None, ""):
                label = _LABELS.get(field, "This field")
                err(field, f"{label} is required to open accounts.")
    for field in ("country", "citizenship", "tax_residency"):
        value = data.get(field)
        if value:
            code = str(value).upper()
            if not identification.COUNTRY.match(code):
                err(field, "Give a two-letter ISO country code (e.g. US, GB).")
            data[field] = code
    if required and not data.get("tax_residency") and data.get("country"):
        data["tax_residency"] = data["country"]
    for field, choices in _CHOICES.items():
        value = data.get(field)
        if value and value not in choices.values:
            err(field, f"'{value}' is not one of: {', '.join(choices.values)}.")
    for field in ("phone", "trusted_contact_phone"):
        value = data.get(field)
        if value and not identification.PHONE.match(str(value)):
            err(field, "Give a phone number of 7 to 25 digits (a leading + and spaces, dots or dashes allowed).")
    born = data.get("date_of_birth")
    if isinstance(born, date) and born > firm_today(firm):
        err("date_of_birth", "The date of birth cannot be in the future.")
    if isinstance(born, date) and born.year < 1900:
        err("date_of_birth", "Give a date of birth after 1900.")
    if data.get("tax_id"):

        def current(field: str) -> str:
            value = data.get(field, getattr(on_file, field, "") if on_file is not None else "")
            return str(value or "")

        us = identification.is_us_person(
            tax_residency=current("tax_residency") or current("country"), citizenship=current("citizenship")
        )
        try:
            data["tax_id"] = identification.normalise_tax_id(str(data["tax_id"]), us_person=us)
        except ValueError as exc:
            err("tax_id", str(exc))
    for field in ("email", "trusted_contact_email"):
        value = data.get(field)
        if value:
            try:
                validate_email(str(value))
            except ValidationError:
                err(field, "Enter a valid email address.")
    return errors


def _apply_identification(investor: Investor, data: dict[str, object]) -> None:
    for field, value in data.items():
        if field == "tax_id":
            raw = str(value)
            investor.tax_id_encrypted = crypto.encrypt(raw)
            investor.tax_id_last4 = raw[-4:]
        else:
            setattr(investor, field, value)


@transaction.atomic
def investor_onboard(
    *, household: Household, acting_user: User | None, relationship: str = "", **data: object
) -> Investor:
    """Add an investor with full customer-identification data to a household.

    Validated (every error at once, as field errors): the required fields, the taxpayer id's
    shape for the investor's tax residency (`accounts.identification`), a birth date not in
    the future on the firm's day, country codes, choices, phone numbers and emails. The
    taxpayer id is stored encrypted, its last four digits apart. The first investor of a
    household is its primary member, later ones joint owners unless `relationship` says."""
    unknown = set(data) - IDENTIFICATION_FIELDS
    if unknown:
        raise AccountsError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    errors = _identification_errors(data, firm=household.firm, required=True)
    if relationship and relationship not in HouseholdMember.Relationship.values:
        errors.setdefault("relationship", []).append(
            f"Choose one of: {', '.join(HouseholdMember.Relationship.values)}."
        )
    if errors:
        raise AccountsError(next(iter(errors.values()))[0], field=next(iter(errors)), errors=errors)
    if not relationship:
        has_primary = HouseholdMember.objects.filter(
            household=household, relationship=HouseholdMember.Relationship.PRIMARY
        ).exists()
        relationship = HouseholdMember.Relationship.JOINT if has_primary else HouseholdMember.Relationship.PRIMARY
    investor = Investor(firm=household.firm)
    _apply_identification(investor, data)
    try:
        save_attributed(investor, acting_user=acting_user, reason="investor onboarded")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc
    household_add_member(household=household, investor=investor, relationship=relationship, acting_user=acting_user)
    return investor


@transaction.atomic
def investor_update(*, investor: Investor, acting_user: User | None, **changes: object) -> Investor:
    """Change an investor's identification data, validated as at onboarding (a field sent
    empty that onboarding requires is refused)."""
    unknown = set(changes) - IDENTIFICATION_FIELDS
    if unknown:
        raise AccountsError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    investor = Investor.objects.select_for_update().select_related("firm").get(pk=investor.pk)
    errors = _identification_errors(changes, firm=investor.firm, required=False, on_file=investor)
    for field in REQUIRED_IDENTIFICATION:
        if field in changes and changes[field] in (None, ""):
            errors.setdefault(field, []).append(f"{_LABELS.get(field, 'This field')} cannot be emptied.")
    if errors:
        raise AccountsError(next(iter(errors.values()))[0], field=next(iter(errors)), errors=errors)
    _apply_identification(investor, changes)
    try:
        return save_attributed(investor, acting_user=acting_user, reason="investor updated")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc


def identification_missing(investor: Investor) -> list[str]:
    """The required identification fields an investor has not given yet (API names)."""
    missing = []
    for field in REQUIRED_IDENTIFICATION:
        value = investor.tax_id_encrypted if field == "tax_id" else getattr(investor, field)
        if value in (None, ""):
            missing.append(field)
    return missing
