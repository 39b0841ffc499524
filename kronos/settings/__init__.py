"""Kronos settings: every value from the environment. This module is DJANGO_SETTINGS_MODULE; the
long sections live beside it (environment, api, security, log) and are imported here by name.

The documented list of variables is in README.md ("Configuration"). With nothing set,
Kronos runs the embedded demo: SQLite, an in-process cache and a file-system Celery
broker, so `make run` needs no server. Tests and production set DATABASE_URL and
REDIS_URL to PostgreSQL and Redis.
"""

import importlib.util
import os
from urllib.parse import urlsplit, urlunsplit

from kronos.settings.api import (  # noqa: F401 -- Django reads settings by name
    OAUTH2_PROVIDER,
    REST_FRAMEWORK,
    SPECTACULAR_SETTINGS,
)
from kronos.settings.environment import BASE_DIR, DEBUG, VAR_DIR, env
from kronos.settings.log import (  # noqa: F401 -- Django reads settings by name
    DJANGO_GUID,
    LOG_LEVEL,
    LOGGING,
)
from kronos.settings.security import (  # noqa: F401 -- Django reads settings by name
    CONTENT_SECURITY_POLICY,
    CSRF_COOKIE_HTTPONLY,
    CSRF_COOKIE_SECURE,
    OAUTH_TOKEN_RATE,
    PERMISSIONS_POLICY,
    SECURE_CONTENT_TYPE_NOSNIFF,
    SECURE_CROSS_ORIGIN_OPENER_POLICY,
    SECURE_HSTS_INCLUDE_SUBDOMAINS,
    SECURE_HSTS_PRELOAD,
    SECURE_HSTS_SECONDS,
    SECURE_PROXY_SSL_HEADER,
    SECURE_REDIRECT_EXEMPT,
    SECURE_REFERRER_POLICY,
    SECURE_SSL_REDIRECT,
    SESSION_COOKIE_AGE,
    SESSION_COOKIE_HTTPONLY,
    SESSION_COOKIE_SAMESITE,
    SESSION_COOKIE_SECURE,
    STAFF_IDLE_TIMEOUT_SECONDS,
    X_FRAME_OPTIONS,
)

SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-kronos-development-only-key-change-me-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # third party
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djmoney",
    "simple_history",
    "django_htmx",
    "template_partials",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "oauth2_provider",
    "django_celery_beat",
    "django_celery_results",
    "django_guid",
    "csp",
    "django_prometheus",
    "kronos.apps.KronosConfig",
    # Kronos, in dependency order: each may import only from those above it.
    "accounts",
    "portfolios",
    "trading",
    "compliance",
    "onboarding",
    "operations",
    "notifications",
    "reports",
]
# Development and test apps, outside the production packages: the sandbox services and the firm
# simulator (`sandboxes`), the demo data (`demo`). The production image leaves their directories
# out (.dockerignore), so each is installed only when it is there.
INSTALLED_APPS += [app for app in ("sandboxes", "demo") if importlib.util.find_spec(app) is not None]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "kronos.readcache.RequestVersionMiddleware",
    # GET answers carry an ETag (a hash of the body) and a matching If-None-Match is a 304 with
    # no body: an API client polling an account that did not change downloads nothing.
    "django.middleware.http.ConditionalGetMiddleware",
    # A NUL in the path or query string is a 400 for every URL (kronos/inputs.py).
    "kronos.inputs.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "kronos.security.SecurityHeadersMiddleware",
    "kronos.security.TokenEndpointThrottleMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SecondFactorDeviceMiddleware",  # django_otp's OTPMiddleware, its device read compiled
    "accounts.middleware.RequireSecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "kronos.security.StaffIdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "kronos.urls"
WSGI_APPLICATION = "kronos.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
                "notifications.context_processors.inbox",
                "kronos.readcache.csrf_placeholder",
            ],
            # The portal's number filters (money, price, percent, quantity) in every template.
            "builtins": ["kronos.templatetags.kronos_format"],
        },
    }
]

# --- Data stores -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'kronos.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"].endswith("postgresql") and not env.bool("DATABASE_SYNCHRONOUS_COMMIT", default=True):
    # For throwaway databases only (the test suite, `make bench`, `make simulate`; the Makefile sets
    # it): a commit returns before its WAL is flushed to disk (about 2 ms a commit here). A crash of
    # the server may lose the last commits, never corrupt them; production leaves it on.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
# The compiled reads (kronos.db.CompiledRead: the requests' user, token and device, the pages'
# and list endpoints' rows) bind on the server and are prepared on their first run on a
# connection (planned once): off for a pooler that keeps no prepared statements (PgBouncer in
# transaction mode before 1.21).
DATABASE_PREPARED_READS = env.bool("DATABASE_PREPARED_READS", default=True)
if DATABASES["default"]["ENGINE"].endswith("postgresql") and DATABASE_PREPARED_READS:
    # psycopg prepares only what a cursor asks it to (the compiled reads' cursor asks for each
    # statement; Django's client-side binding cursors never prepare): no statement is prepared
    # by count. Django leaves this None, which turns preparing off altogether.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 2**31 - 1
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The embedded demo runs web, worker and beat on one file: wait for locks, don't fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20


def _per_test_worker(url: str) -> str:
    """Under pytest-xdist each test worker ("gw0", "gw1", ...) has its own PostgreSQL test database;
    this gives it its own Redis database too (10 + its number, mod 16), so one worker's queues, locks
    and cache never meet another's. Unchanged outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit() or not url.startswith("redis://"):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{(10 + int(worker[2:])) % 16}"))


REDIS_URL = _per_test_worker(env.str("REDIS_URL", default=""))
if REDIS_URL:
    # Django's Redis cache, sharing one redis-py client per pool (kronos/cache.py).
    CACHES = {"default": {"BACKEND": "kronos.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Degraded mode (kronos/cache.py): when Redis cannot be reached, cache reads are misses, writes are
# skipped, locks use the database and rate limits count in process; Redis is tried again after
# CACHE_RETRY_SECONDS. A connection attempt gives up after CACHE_CONNECT_TIMEOUT seconds.
CACHE_RETRY_SECONDS = env.float("CACHE_RETRY_SECONDS", default=5.0)
CACHE_CONNECT_TIMEOUT = env.float("CACHE_CONNECT_TIMEOUT", default=1.0)
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=2.0)
# Most clients the in-process rate limiter tracks while Redis is away (the oldest are dropped).
RATELIMIT_LOCAL_MAX_KEYS = env.int("RATELIMIT_LOCAL_MAX_KEYS", default=10_000)
# API reads answered from the shared cache until a write moves the data version (kronos/readcache/);
# this many seconds at most. Off without Redis: a per-process cache can't see other processes' writes.
READ_CACHE_SECONDS = env.int("READ_CACHE_SECONDS", default=30 if REDIS_URL else 0)
# Sessions read from Redis first, written through to the database (Django's cached_db engine).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = _per_test_worker(env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://"))
if os.environ.get("CELERY_BROKER_URL") not in (None, CELERY_BROKER_URL):
    os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL  # Celery reads the variable over this setting
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),  # kombu's default: control/ in the working directory
        "store_processed": False,
    }
else:
    # Above the longest task, so Redis never redelivers a task that is still running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600)}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = env.str("TIME_ZONE", default="America/New_York")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Auth --------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading the signed-in user with its firm and roles in one query (kronos/auth.py).
    "kronos.auth.CachedModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home_root"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Lockout: keyed on username and address together, so one user's failures never lock
# out another user on the same address.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"

# Second factor for advisors, compliance officers and operations staff (and the admin).
KRONOS_ENFORCE_2FA = env.bool("KRONOS_ENFORCE_2FA", default=True)
OTP_TOTP_ISSUER = "Kronos"

# --- API: kronos/settings/api.py

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

# --- Money ---------------------------------------------------------------------------------
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "CHF", "JPY")
DEFAULT_CURRENCY = "USD"

# --- Static and media ------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str("STATICFILES_STORAGE", default="django.contrib.staticfiles.storage.StaticFilesStorage")
    },
}

# Serve static files from the source folders too, so the app works before collectstatic.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# --- Encryption of personal identifiers (accounts/crypto.py) ----------------------------------
# Fernet keys, comma-separated, newest first (the first encrypts, all decrypt; rotate with
# `manage.py rotate_field_keys`). Empty: one key derived from SECRET_KEY by HKDF.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# An invitation link (and a password-reset link) stops working after this many seconds.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)

# --- Email -----------------------------------------------------------------------------------
# django-anymail's way: EMAIL_BACKEND names the backend (an ESP's, e.g.
# "anymail.backends.postmark.EmailBackend", once that package is installed) and every ANYMAIL_<NAME>
# variable becomes ANYMAIL["<NAME>"] (ANYMAIL_POSTMARK_SERVER_TOKEN=...). EMAIL_URL instead gives an
# SMTP server or a Django backend in one URL (smtp+tls://user:password@host:587, consolemail://,
# filemail:///path, memorymail://), and wins over EMAIL_BACKEND. Default: the console (the demo).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
ANYMAIL = {key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")}
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Kronos <no-reply@kronos.local>")
OPERATIONS_ALERT_EMAILS = env.list("OPERATIONS_ALERT_EMAILS", default=[])

# --- Security: kronos/settings/security.py

# --- Observability -------------------------------------------------------------------------
# /metrics answers a bearer METRICS_TOKEN, or an address in METRICS_ALLOWED_IPS when that is set
# explicitly (empty by default: a reverse proxy on the same host makes every caller loopback).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# The Celery worker serves its own task metrics on this port (0: off).
CELERY_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)

# --- Integrations (adapters) -----------------------------------------------------------------
# Each outside system is an adapter chosen here; "sandbox" is a local HTTP service.
MARKET_DATA_ADAPTER = env.str("MARKET_DATA_ADAPTER", default="sandbox")
MARKET_DATA_URL = env.str("MARKET_DATA_URL", default="http://127.0.0.1:8101")
CUSTODIAN_ADAPTER = env.str("CUSTODIAN_ADAPTER", default="sandbox")
CUSTODIAN_URL = env.str("CUSTODIAN_URL", default="http://127.0.0.1:8102")
CUSTODIAN_WEBHOOK_SECRET = env.str("CUSTODIAN_WEBHOOK_SECRET", default="sandbox-custodian-secret")
BANKING_ADAPTER = env.str("BANKING_ADAPTER", default="sandbox")
BANKING_URL = env.str("BANKING_URL", default="http://127.0.0.1:8103")
KYC_ADAPTER = env.str("KYC_ADAPTER", default="sandbox")
KYC_URL = env.str("KYC_URL", default="http://127.0.0.1:8104")
KYC_WEBHOOK_SECRET = env.str("KYC_WEBHOOK_SECRET", default="sandbox-kyc-secret")
AML_ADAPTER = env.str("AML_ADAPTER", default="sandbox")
AML_MATCH_THRESHOLD = env.int("AML_MATCH_THRESHOLD", default=85)
WEBHOOK_TOLERANCE_SECONDS = env.int("WEBHOOK_TOLERANCE_SECONDS", default=300)
# Events out (accounts/services/events.py, webhooks.py, webhook_delivery.py): outgoing webhooks to integrators.
EVENTS_PUBLISH_ON_COMMIT = env.bool("EVENTS_PUBLISH_ON_COMMIT", default=True)
WEBHOOK_RETRY_SECONDS = env.int("WEBHOOK_RETRY_SECONDS", default=3 * 24 * 3600)
WEBHOOK_BACKOFF_BASE_SECONDS = env.float("WEBHOOK_BACKOFF_BASE_SECONDS", default=5.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env.float("WEBHOOK_BACKOFF_MAX_SECONDS", default=6 * 3600.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Outside DEBUG a subscriber URL must be https on a public address (no SSRF into our network);
# hosts (or host:port) in the allowlist are exempt, the two flags relax it for a sandbox.
WEBHOOK_URL_ALLOWLIST = env.list("WEBHOOK_URL_ALLOWLIST", default=[])
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=DEBUG)
HTTP_TIMEOUT_SECONDS = env.float("HTTP_TIMEOUT_SECONDS", default=5.0)
# Where the KYC provider posts its results (the sandbox reads it from each start request).
KYC_CALLBACK_URL = env.str("KYC_CALLBACK_URL", default=f"{SITE_URL}/webhooks/kyc/")

# Cross-app controls and hooks (pre-trade, funding, model assignment, KYC decided, account
# created) are not settings: they are typed slots the owning apps fill in their AppConfig.ready()
# (kronos/checks_registry.py), and `manage.py check` fails while a required one is missing.
# The security every account is compared with on its performance chart and API.
PORTFOLIOS_BENCHMARK = env.str("PORTFOLIOS_BENCHMARK", default="SPY")

# Real daily price history (shared/data beside the project) for tests, benchmarks and seed_scale;
# never copied into the repository.
SHARED_DATA_DIR = env.path("KRONOS_SHARED_DATA", default=BASE_DIR.parent / "shared" / "data")

# --- Logging: kronos/settings/log.py
