"""Logins: the system user that jobs act as, and new users with their roles.

Each service validates its input, runs in one transaction, records the acting user on
the history row and raises `AccountsError` with a readable message on bad input.
"""

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.errors import AccountsError
from accounts.models import (
    Firm,
    Role,
    User,
)
from accounts.permissions import may_grant_roles
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
