"""Second factor for staff: advisors, compliance officers and operations must verify a
TOTP device before any page when KRONOS_ENFORCE_2FA is on (the embedded demo turns it off).

Every path is gated unless listed here. The OAuth endpoints that authenticate a *client*
(token, revoke, introspect, the metadata documents) are exempt; /o/authorize/, where a
signed-in user grants a client access, is not: a token must never be had with the password
alone where pages would ask for the second factor."""

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device

from kronos.db import CompiledRead

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


def _device(label: str, pk: int) -> Any:
    return apps.get_model(label).objects.filter(id=pk).order_by("pk")[:1]


#: The session's device, read as django-otp reads it (`Device.from_persistent_id`: the first with
#: that id), its SQL built once per device class.
_DEVICE = CompiledRead(_device, int)


class SecondFactorDeviceMiddleware(OTPMiddleware):
    """django-otp's middleware, reading the session's device on every request as it does (a
    revoked device counts on the next request), with that read's SQL built once."""

    def _device_from_persistent_id(self, persistent_id: str) -> Any:
        persistent_id = self._normalize_persistent_id(persistent_id)
        try:
            model_label, device_id = persistent_id.rsplit("/", 1)
            app_label, model_name = model_label.split(".")
            device_cls = apps.get_model(app_label, model_name)
            pk = int(device_id)
        except (ValueError, LookupError):
            return None
        if not issubclass(device_cls, Device):
            return None
        if not -(2**63) <= pk < 2**63:
            return Device.from_persistent_id(persistent_id)  # the ORM's way with an id no row can have
        found = _DEVICE.rows(pk, shape=device_cls._meta.label)
        return found[0] if found else None
