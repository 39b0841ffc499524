from django.http import HttpRequest

from accounts.models import Role


def navigation(request: HttpRequest) -> dict[str, object]:
    """The navigation a user's roles give them; the base layout renders it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_roles": frozenset()}
    return {"nav_roles": user.roles, "Role": Role}
