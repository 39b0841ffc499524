"""Writes to users, firms, advisors, households and investors.

Each service validates its input, runs in one transaction, records the acting user on
the history row and raises `AccountsError` with a readable message on bad input.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.errors import AccountsError
from accounts.models import Advisor, Firm, Household, HouseholdMember, IdempotencyKey, Investor, Role, User
from accounts.permissions import may_change_privileges
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
    if (role_names or is_staff) and not may_change_privileges(acting_user=acting_user, user=None):
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
    try:
        return save_attributed(household, acting_user=acting_user, reason="household created")
    except ValidationError as exc:
        raise AccountsError.from_validation(exc) from exc
    except IntegrityError as exc:
        raise AccountsError("A household with this name already exists in the firm.", field="name") from exc


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
    if user is not None and not may_change_privileges(acting_user=acting_user, user=user):
        raise AccountsError("Only a superuser gives a login the investor role.", field="user")
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
