"""API permissions shared by every app.

A bearer token must carry `read` for safe methods and `trade` for writes. A browser
session (used by the docs UI and the pages' own fetches) is held to the same role and
object checks but has no scopes to check.
"""

from typing import TYPE_CHECKING, Any, cast

from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:
    # The project's AUTH_USER_MODEL, as django-stubs resolves it (no import of the app that owns it).
    from django.contrib.auth.models import _User as User
    from rest_framework.request import Request

READ_SCOPE = "read"
TRADE_SCOPE = "trade"


def token_scopes(request: "Request") -> set[str] | None:
    """The scopes of the request's bearer token, or None when it came with a session."""
    scope = getattr(request.auth, "scope", None)
    if isinstance(scope, str):
        return set(scope.split())
    return None


class HasScopeForMethod(BasePermission):
    message = "Your token lacks the scope this request needs: `read` to read, `trade` to write."

    def has_permission(self, request: "Request", view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        scopes = token_scopes(request)
        if scopes is None:
            return True
        needed = getattr(view, "required_scope", None) or (
            READ_SCOPE if request.method in SAFE_METHODS else TRADE_SCOPE
        )
        return needed in scopes


def api_user(request: "Request") -> "User":
    """The authenticated user of an API request (the default permission has refused anyone else)."""
    user = request.user
    if not user.is_authenticated:  # pragma: no cover - HasScopeForMethod runs first
        raise PermissionError("unauthenticated request reached a view")
    return cast("User", user)
