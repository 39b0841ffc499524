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
