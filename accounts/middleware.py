"""Second factor for staff: advisors, compliance officers and operations must verify a
TOTP device before any page when KRONOS_ENFORCE_2FA is on (the embedded demo turns it off).

Every path is gated unless listed here. The OAuth endpoints that authenticate a *client*
(token, revoke, introspect, the metadata documents) are exempt; /o/authorize/, where a
signed-in user grants a client access, is not: a token must never be had with the password
alone where pages would ask for the second factor."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp.middleware import OTPMiddleware

from kronos import readcache

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


class CachedOTPMiddleware(OTPMiddleware):
    """django-otp's middleware with the session's verified device read through the read cache:
    a device write (deleted, unconfirmed) moves the data version, so a revoked device stops
    counting from the very next request, as when it was read from the database every time."""

    def _device_from_persistent_id(self, persistent_id: str) -> Any:
        def load() -> Any:
            return super(CachedOTPMiddleware, self)._device_from_persistent_id(persistent_id)

        return readcache.cached(f"otp-device:{persistent_id}", load)
