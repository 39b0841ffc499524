"""The session's user, read fresh from the database on every request.

Security lookups are never cached (the signed-in user, OAuth tokens, second-factor devices): a
deactivated user, a changed role, a revoked token or device counts from the very next request.
The class keeps the name its first release gave it: sessions store the backend's dotted path.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import OuterRef, QuerySet

from kronos.db import CompiledRead


def _users(pk: Any = None) -> QuerySet[Any]:
    """The user with their firm and, on PostgreSQL, their roles (an array subquery)."""
    users = get_user_model()._default_manager.select_related("firm")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        names = Group.objects.filter(user=OuterRef("pk")).order_by().values("name")
        users = users.annotate(role_names=ArraySubquery(names))
    return users if pk is None else users.filter(pk=pk)


#: The same query, its SQL built once: on every request, its building cost more than its run.
_USER = CompiledRead(lambda _postgres, pk: _users(pk), int)
_BIGINT = 2**63


class CachedModelBackend(ModelBackend):
    """Django's model backend (the name is kept for the sessions that store it; nothing is cached).

    The request's user comes with its firm and, on PostgreSQL, its roles in the same query (the
    roles as an array subquery): every page and API read asks for both, so a request's security
    lookups are the user and the second-factor device, two queries instead of three."""

    def get_user(self, user_id: Any) -> Any:
        postgres = connection.vendor == "postgresql"
        if type(user_id) is int and -_BIGINT <= user_id < _BIGINT:  # the session's key, as Django reads it
            found = _USER.rows(user_id, shape=postgres)
            if not found:
                return None
            user = found[0]
        else:
            try:
                user = _users().get(pk=user_id)
            except (get_user_model().DoesNotExist, ValueError, TypeError):
                return None
        if postgres:
            user._roles_cache = frozenset(user.role_names)  # type: ignore[attr-defined]
        return user if self.user_can_authenticate(user) else None
