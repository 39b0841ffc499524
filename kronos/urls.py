from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from oauth2_provider import urls as oauth2_urls
from oauth2_provider import views as oauth2_views

from kronos import health, metrics, views

if settings.KRONOS_ENFORCE_2FA:
    # The admin refuses any session that has not passed the second factor.
    admin.site.__class__ = OTPAdminSite

API_DOCS_CSP = {"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]}

api_v1: list[URLPattern | URLResolver] = [
    path("", include("accounts.api_urls")),
    path("", include("portfolios.api_urls")),
    path("", include("trading.api_urls")),
    path("", include("compliance.api_urls")),
    path("", include("onboarding.api_urls")),
    path("", include("reports.api_urls")),
    path("", include("accounts.events_urls")),
    path("", include("notifications.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (no inline <script>); the UIs
    # themselves set inline styles and Redoc runs a blob: worker, so only these pages allow that.
    path("docs/", csp_update(API_DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("redoc/", csp_update(API_DOCS_CSP)(SpectacularRedocView.as_view(url_name="schema")), name="api-redoc"),
]

# django-oauth-toolkit's endpoints, but not its user-facing pages: OAuth clients are created by staff in
# the admin (behind the second factor), never registered by a signed-in user, and grants are not
# listed or revoked through the toolkit's own pages (the device flow, OpenID Connect and dynamic
# client registration are not offered either). /o/authorize/ is behind the second-factor gate
# (accounts.middleware) like every page; token, revoke and introspect authenticate the client.
oauth2_patterns: list[URLPattern | URLResolver] = [
    *oauth2_urls.metadata_urlpatterns,
    path("authorize/", oauth2_views.AuthorizationView.as_view(), name="authorize"),
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", oauth2_views.IntrospectTokenView.as_view(), name="introspect"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page links; the icon is vendored in static/.
    path("favicon.ico", views.favicon, name="favicon"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("o/", include((oauth2_patterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("api/v1/", include(api_v1)),
    path("", include("accounts.urls")),
    path("", include("portfolios.urls")),
    path("", include("trading.urls")),
    path("", include("compliance.urls")),
    path("", include("onboarding.urls")),
    path("", include("operations.urls")),
    path("", include("reports.urls")),
    path("", include("notifications.urls")),
]

handler404 = "kronos.views.not_found"
handler500 = "kronos.views.server_error"
