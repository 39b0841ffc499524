"""Role rules of the accounts app."""

from typing import Any

#: The fields of a user that make up their privileges.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


def may_change_privileges(*, acting_user: Any, user: Any) -> bool:
    """Whether `acting_user` may change `user`'s superuser or staff flag, roles (groups) or
    permissions (`user` None: a user being created).

    Only a superuser does, and never for themselves: a superuser who wants to give up their
    own flag or roles asks another superuser (or uses the shell, where `acting_user` is None).
    Jobs and the demo seeding act as the system user, which may.
    """
    if acting_user is None or getattr(acting_user, "is_system", False):
        return True
    if not acting_user.is_superuser:
        return False
    return user is None or user.pk is None or user.pk != acting_user.pk


#: The role a client's login carries: it reaches only the investor's own households, so firm
#: staff who open clients (the household's advisor, operations) give it when they invite one.
#: Every other role, the staff flag and permissions are privileges (`may_change_privileges`).
CLIENT_ROLES = frozenset({"investor"})
CLIENT_GRANTORS = frozenset({"advisor", "operations"})


def may_grant_roles(*, acting_user: Any, roles: Any, is_staff: bool = False, user: Any = None) -> bool:
    """Whether `acting_user` may give `user` (None: a login being created) these roles.

    Privileged roles follow `may_change_privileges`. The client role alone may also be given by
    an advisor or operations user of a firm to a login that has no privilege of its own (not
    staff, not a superuser, no other role) and is not their own: inviting a client to the
    portal is onboarding, not an escalation.
    """
    if may_change_privileges(acting_user=acting_user, user=user):
        return True
    wanted = set(roles)
    if is_staff or not wanted or not wanted <= CLIENT_ROLES:
        return False
    if not getattr(acting_user, "firm_id", None) or not (acting_user.roles & CLIENT_GRANTORS):
        return False
    if user is None or user.pk is None:
        return True
    if user.pk == acting_user.pk or user.is_staff or user.is_superuser or not set(user.roles) <= CLIENT_ROLES:
        return False
    return user.firm_id in (None, acting_user.firm_id)
