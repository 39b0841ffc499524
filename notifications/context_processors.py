from django.http import HttpRequest

from notifications.selectors import unread_count


def inbox(request: HttpRequest) -> dict[str, object]:
    """The unread count in the navigation, counted only when a template shows it (a callable:
    partials that render no navigation cost no query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"notifications_unread": lambda: unread_count(user=user)}  # type: ignore[arg-type]
