"""Types for views: a request whose user is logged in (behind @login_required)."""

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from accounts.models import User


class AuthedHttpRequest(HttpRequest):
    user: "User"  # type: ignore[assignment]
    htmx: "HtmxDetails"
