"""Settings of the API: DRF, the OpenAPI schema (drf-spectacular) and the OAuth2 provider."""

from kronos.settings.environment import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["kronos.api.permissions.HasScopeForMethod"],
    "DEFAULT_PAGINATION_CLASS": "kronos.api.pagination.Pagination",
    # JSON nested too deep or carrying NUL characters is a 400 (kronos/inputs.py).
    "DEFAULT_PARSER_CLASSES": [
        "kronos.inputs.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        # DRF's throttles with a fixed-window counter (kronos/ratelimit.py) instead of a request log.
        "kronos.ratelimit.AnonRateThrottle",
        "kronos.ratelimit.UserRateThrottle",
        # Applies only to views that set throttle_scope (e.g. "money" on order and transfer writes).
        "kronos.ratelimit.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="6000/min"),
        "money": env.str("API_THROTTLE_MONEY", default="600/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "kronos.api.schema.KronosAutoSchema",
    "EXCEPTION_HANDLER": "kronos.api.exceptions.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kronos API",
    "DESCRIPTION": "Books, performance, orders and transfers for advisory firms. Decimals are strings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Schema warnings are a code-quality matter, tested with the API; in `check --deploy` they
    # would also trip on the fake "testserver" host the generator uses.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The contract is the bearer token and JSON. The pages' own session fetches and DRF's form
    # parsers still work, but they are no part of what integrators are promised (kronos/api/schema.py).
    "AUTHENTICATION_WHITELIST": ["oauth2_provider.contrib.rest_framework.OAuth2Authentication"],
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "OAUTH2_FLOWS": ["authorizationCode"],
    "OAUTH2_AUTHORIZATION_URL": "/o/authorize/",
    "OAUTH2_TOKEN_URL": "/o/token/",  # nosec B105 a URL, not a password
    "OAUTH2_REFRESH_URL": "/o/token/",
    # A choice set named by its model where two `status` fields would otherwise collide.
    "ENUM_NAME_OVERRIDES": {"HouseholdStatusEnum": "accounts.models.Household.Status"},
}
OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Read books and performance", "trade": "Place orders and move money"},
    "DEFAULT_SCOPES": ["read"],
    "READ_SCOPE": "read",
    "WRITE_SCOPE": "trade",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("API_TOKEN_TTL_SECONDS", default=30 * 24 * 3600),
    "PKCE_REQUIRED": True,
    # Token lookups read fresh on every request; a deactivated user's token is refused (kronos/api/tokens.py).
    "OAUTH2_VALIDATOR_CLASS": "kronos.api.tokens.ActiveUserTokenValidator",
    # RFC 9700 (OAuth 2.0 security best practice): no implicit or password grant, S256 PKCE only,
    # no tokens in query strings, hashed token storage, refresh-token replay revokes the family.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,  # nosec B105 a flag, not a password
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,  # nosec B105 a flag, not a password
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # nosec B105 a flag, not a password
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # nosec B105 a flag, not a password
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if env.bool("HTTPS", default=False) else ["http", "https"],
}
