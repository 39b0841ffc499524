"""Types for views: a request whose user is logged in (behind @login_required)."""

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    # The project's AUTH_USER_MODEL, as django-stubs resolves it (no import of the app that owns it).
    from django.contrib.auth.models import _User as User
    from django_htmx.middleware import HtmxDetails


class AuthedHttpRequest(HttpRequest):
    user: "User"  # type: ignore[assignment]
    htmx: "HtmxDetails"
