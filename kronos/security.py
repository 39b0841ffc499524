"""Production hardening that Django and django-csp don't cover on their own.

- `SecurityHeadersMiddleware` adds `Permissions-Policy` (Django has no setting for it).
- `StaffIdleTimeoutMiddleware` logs out advisors, compliance officers and operations staff
  after `STAFF_IDLE_TIMEOUT_SECONDS` without a request: they can move money, so an
  unattended browser must not stay signed in for the whole session lifetime.
- System checks refuse the built-in development SECRET_KEY outside DEBUG.
- `kronos.apps.KronosConfig` registers these checks in every process: web, worker and beat.
"""

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import checks
from django.http import HttpRequest, HttpResponse, JsonResponse

from kronos import metrics
from kronos.ratelimit import hit

#: The key in settings.py's `env.str("SECRET_KEY", default=...)`; never valid in production.
DEVELOPMENT_SECRET_KEY_PREFIX = "django-insecure-"  # noqa: S105  # nosec B105 a prefix to refuse, not a secret

LAST_ACTIVITY_KEY = "kronos_last_activity"
#: Write the activity stamp at most this often, so a busy page doesn't save the session on every request.
ACTIVITY_RESOLUTION_SECONDS = 60

DEFAULT_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.permissions_policy = getattr(settings, "PERMISSIONS_POLICY", DEFAULT_PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        return response


class TokenEndpointThrottleMiddleware:
    """Rate-limit POSTs to the OAuth token endpoint (/o/token/) per client address.

    The endpoint is django-oauth-toolkit's plain Django view, outside DRF's throttles, and it
    is where client secrets get guessed. OAUTH_TOKEN_RATE is "N/min" (default 30/min).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path.startswith(("/o/token/", "/o/revoke_token/")):
            limit = int(str(getattr(settings, "OAUTH_TOKEN_RATE", "30/min")).split("/")[0])
            count, seconds_left = hit(f"token:{request.META.get('REMOTE_ADDR', '')}", 60)
            if count > limit:
                answer = JsonResponse({"error": "rate_limited", "detail": "Too many token requests."}, status=429)
                answer["Retry-After"] = str(seconds_left)
                return answer
        return self.get_response(request)


class StaffIdleTimeoutMiddleware:
    """Sign staff out after a period without requests; investors keep SESSION_COOKIE_AGE.

    Placed after AuthenticationMiddleware and MessageMiddleware. Only session logins are
    affected: API bearer tokens carry their own expiry.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timeout = int(getattr(settings, "STAFF_IDLE_TIMEOUT_SECONDS", 0) or 0)
        user = getattr(request, "user", None)
        if timeout > 0 and user is not None and user.is_authenticated and _is_staff(user):
            now = int(time.time())
            last = request.session.get(LAST_ACTIVITY_KEY)
            if isinstance(last, int) and now - last > timeout:
                # Imported here: this module is loaded while the app registry is being built.
                from django.contrib import messages
                from django.contrib.auth import logout
                from django.contrib.auth.views import redirect_to_login

                logout(request)
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                messages.info(request, "You were signed out after a period of inactivity. Please sign in again.")
                return redirect_to_login(request.get_full_path())
            if not isinstance(last, int) or now - last >= ACTIVITY_RESOLUTION_SECONDS:
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


def stamp_activity_on_login(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    """Start the idle clock at login, so the first page after it needn't write the session."""
    if request is not None and hasattr(request, "session") and user is not None and _is_staff(user):
        request.session[LAST_ACTIVITY_KEY] = int(time.time())


def _is_staff(user: Any) -> bool:
    return bool(getattr(user, "needs_second_factor", False) or user.is_staff)


# --- System checks ---------------------------------------------------------------------------


def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Outside DEBUG, the development SECRET_KEY is an error on a server database.

    The embedded demo (SQLite, no DEBUG for `migrate` and `seed_demo`) is allowed to run
    with it; `check --deploy` refuses it everywhere.
    """
    if settings.DEBUG or not _uses_development_key():
        return []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return []
    return [_secret_key_error()]


def check_secret_key_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if _uses_development_key():
        return [_secret_key_error()]
    return []


def check_metrics_protected(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG or metrics.metrics_token() or metrics.allowed_networks():
        return []
    return [
        checks.Warning(
            "/metrics is reachable by nobody: set METRICS_TOKEN or METRICS_ALLOWED_IPS.",
            id="kronos.W002",
        )
    ]


def _uses_development_key() -> bool:
    return str(settings.SECRET_KEY).startswith(DEVELOPMENT_SECRET_KEY_PREFIX)


def _secret_key_error() -> checks.Error:
    return checks.Error(
        "SECRET_KEY is the built-in development key.",
        hint="Set SECRET_KEY in the environment (from the secrets manager): 50+ random characters.",
        id="kronos.E001",
    )
