"""Writes to users, firms, advisors, households and investors.

Each service validates its input, runs in one transaction, records the acting user on
the history row and raises `AccountsError` with a readable message on bad input.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import crypto, identification
from accounts.errors import AccountsError
from accounts.events import event_emit
from accounts.models import (
    Advisor,
    EmploymentStatus,
    Firm,
    Household,
    HouseholdMember,
    IdempotencyKey,
    IncomeRange,
    InvestmentObjective,
    Investor,
    InvestorInvitation,
    NetWorthRange,
    Role,
    User,
)
from accounts.permissions import may_change_privileges, may_grant_roles
from kronos.history import save_attributed

SYSTEM_USER_EMAIL = "system@kronos.internal"


def system_user() -> User:
    """The named user that scheduled jobs act as; created on first use."""
    user, created = User.objects.get_or_create(
        email=SYSTEM_USER_EMAIL,
        defaults={"full_name": "Kronos scheduler", "is_system": True, "is_active": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    full_name: str = "",
    roles: Iterable[str] = (),
    firm: Firm | None = None,
    is_staff: bool = False,
    acting_user: User | None = None,
) -> User:
    """Create a login with the given roles. Refuses a duplicate email (case-insensitive), and
    roles or the staff flag unless a superuser (or a job, or the shell) grants them."""
    email = User.objects.normalize_email(email).strip().lower()
    role_names = list(roles)
    if (role_names or is_staff) and not may_grant_roles(acting_user=acting_user, roles=role_names, is_staff=is_staff):
        raise AccountsError("Only a superuser grants roles or staff access.", field="roles")
    unknown = set(role_names) - set(Role.values)
    if unknown:
        raise AccountsError(f"Unknown role: {', '.join(sorted(unknown))}.", field="roles")
    if User.objects.filter(email__iexact=email).exists():
        raise AccountsError(f"A user with the email {email} already exists.", field="email")
    user = User(email=email, full_name=full_name, firm=firm, is_staff=is_staff)
    user.set_password(password)
    try:
        save_attributed(user, acting_user=acting_user, reason="user created")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc
    if role_names:
        user.groups.add(*Group.objects.filter(name__in=role_names))
    return user


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


@transaction.atomic
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


def firm_today(firm: Firm) -> date:
    """The firm's business date (its own time zone), which ages and birth dates are judged on."""
    from zoneinfo import ZoneInfo

    try:
        return timezone.localdate(timezone=ZoneInfo(firm.time_zone))
    except (KeyError, ValueError):
        return timezone.localdate()


#: Customer-identification fields an onboarded investor must give (the API's names).
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
            from django.core.validators import validate_email

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


# --- Invitations ------------------------------------------------------------------------------


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Django's password-reset tokens under a salt of their own: an invitation link is not a
    reset link. Expires after PASSWORD_RESET_TIMEOUT; works once (the hash covers the
    password, which accepting sets)."""

    key_salt = "kronos.accounts.InvestorInvitation"


invitation_token = InvitationTokenGenerator()


@transaction.atomic
def invitation_send(*, investor: Investor, acting_user: User, base_url: str) -> InvestorInvitation:
    """Email the investor a one-time link to set a password; creates their login (no usable
    password, role investor) on the first invitation. Refused without an email address or
    when another person's login already uses it."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    investor = Investor.objects.select_for_update(of=("self",)).select_related("user", "firm").get(pk=investor.pk)
    if not investor.email:
        raise AccountsError("The investor has no email address to invite.", field="email")
    user = investor.user
    if user is None:
        if User.objects.filter(email__iexact=investor.email).exists():
            raise AccountsError(
                f"A login with the email {investor.email} already exists; it cannot be given to this investor.",
                field="email",
            )
        user = user_create(
            email=investor.email,
            password=None,
            full_name=investor.full_name,
            roles=[Role.INVESTOR],
            acting_user=acting_user,
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        investor.user = user
        save_attributed(investor, acting_user=acting_user, reason="login created for invitation", validate=False)
    elif user.has_usable_password():
        raise AccountsError("The investor has already set a password; they can sign in.", field="email")
    invitation = InvestorInvitation(investor=investor, email=user.email, sent_by=acting_user)
    save_attributed(invitation, acting_user=acting_user, reason="invitation sent")
    path = f"/accounts/invitation/{urlsafe_base64_encode(force_bytes(user.pk))}/{invitation_token.make_token(user)}/"
    context = {"investor": investor, "firm": investor.firm, "link": base_url.rstrip("/") + path}
    body = render_to_string("accounts/invitation_email.txt", context)
    transaction.on_commit(
        lambda: send_mail(
            f"{investor.firm.name}: set up your Kronos login", body, None, [user.email], fail_silently=False
        )
    )
    return invitation


def invitation_user(uidb64: str, token: str) -> User | None:
    """The invited user the link names, when its token is still good; else None."""
    from django.utils.encoding import force_str
    from django.utils.http import urlsafe_base64_decode

    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not invitation_token.check_token(user, token):
        return None
    return user


@transaction.atomic
def invitation_accept(*, user: User, password: str) -> User:
    """Set the invited user's password (validated by Django's validators); marks the latest
    invitation accepted. The link stops working: the token covered the old password."""
    from django.contrib.auth.password_validation import validate_password

    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise AccountsError(" ".join(exc.messages), field="password") from exc
    user.set_password(password)
    save_attributed(user, acting_user=user, reason="invitation accepted", validate=False)
    invitation = InvestorInvitation.objects.filter(investor__user=user, accepted_at__isnull=True).first()
    if invitation is not None:
        invitation.accepted_at = timezone.now()
        save_attributed(invitation, acting_user=user, reason="invitation accepted", validate=False)
    return user


IDEMPOTENCY_KEY_RETENTION = timedelta(hours=48)


@transaction.atomic
def expired_credentials_clear(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what has expired: access and refresh tokens, grants, idempotency keys older than
    their retention (48 hours, above the promised 24) and lockout attempts past the cool-off.
    Safe to run any number of times; returns how many rows of each kind went."""
    from axes.models import AccessAttempt
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    now = now or timezone.now()
    counts: dict[str, int] = {}
    AccessToken = get_access_token_model()
    counts["refresh_tokens"] = get_refresh_token_model().objects.filter(access_token__expires__lt=now).delete()[0]
    counts["access_tokens"] = AccessToken.objects.filter(expires__lt=now, refresh_token__isnull=True).delete()[0]
    counts["grants"] = get_grant_model().objects.filter(expires__lt=now).delete()[0]
    counts["idempotency_keys"] = IdempotencyKey.objects.filter(created_at__lt=now - IDEMPOTENCY_KEY_RETENTION).delete()[
        0
    ]
    cooloff = timedelta(hours=float(settings.AXES_COOLOFF_TIME))
    counts["lockout_attempts"] = AccessAttempt.objects.filter(attempt_time__lt=now - cooloff).delete()[0]
    return counts
