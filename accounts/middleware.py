"""Second factor for staff: advisors, compliance officers and operations must verify a
TOTP device before any page when KRONOS_ENFORCE_2FA is on (the embedded demo turns it off).

Every path is gated unless listed here. The OAuth endpoints that authenticate a *client*
(token, revoke, introspect, the metadata documents) are exempt; /o/authorize/, where a
signed-in user grants a client access, is not: a token must never be had with the password
alone where pages would ask for the second factor."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

EXEMPT_PREFIXES = (
    "/static/",
    "/healthz",
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/2fa/",
    "/accounts/password-reset/",
    "/accounts/reset/",
    "/webhooks/",
    "/o/token/",
    "/o/revoke_token/",
    "/o/introspect/",
    "/o/.well-known/",
    "/metrics",
    "/favicon.ico",  # a redirect to the static icon, which browsers ask for on every page
)


class RequireSecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.KRONOS_ENFORCE_2FA and self._must_verify(request):
            return redirect(f"{reverse('accounts:two_factor')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _must_verify(request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        if request.path.startswith(EXEMPT_PREFIXES):
            return False
        return bool(user.needs_second_factor and not user.is_verified())
