"""Writes of the accounts app, one module per subject: logins (`users`), firms, advisors and
households (`firms`), investors and their identification (`investors`), invitations, expired
credentials, the events outbox (`events`) and webhooks (`webhooks` for subscriptions,
`webhook_delivery` for sending).

Each service validates its input, runs in one transaction, records the acting user on the
history row and raises `AccountsError` with a readable message on bad input. Everything public
is re-exported here: other apps import `accounts.services`.
"""

from accounts.services.credentials import (
    IDEMPOTENCY_KEY_RETENTION,
    expired_credentials_clear,
)
from accounts.services.events import (
    PUBLISH_BATCH,
    PUBLISH_LOCK,
    EventSpec,
    event_emit,
    events_emit_bulk,
    events_publish,
)
from accounts.services.firms import (
    HOUSEHOLD_EDITABLE_FIELDS,
    advisor_create,
    firm_create,
    firm_today,
    household_create,
    household_update,
)
from accounts.services.investors import (
    IDENTIFICATION_FIELDS,
    REQUIRED_IDENTIFICATION,
    household_add_member,
    identification_missing,
    investor_create,
    investor_onboard,
    investor_update,
)
from accounts.services.invitations import (
    InvitationTokenGenerator,
    invitation_accept,
    invitation_send,
    invitation_token,
    invitation_user,
)
from accounts.services.users import (
    SYSTEM_USER_EMAIL,
    system_user,
    user_create,
)
from accounts.services.webhook_delivery import (
    EXCERPT,
    SECRET_PREFIX,
    SendResult,
    backoff_delay,
    deliveries_send,
    retry_window,
    secret_new,
    sign,
    signed_headers,
    url_check,
)
from accounts.services.webhooks import (
    MAX_SUBSCRIPTIONS_PER_USER,
    deliveries_create_for,
    subscription_create,
    subscription_deactivate,
    subscription_replay,
    subscriptions_for_user,
)

__all__ = [
    "EXCERPT",
    "HOUSEHOLD_EDITABLE_FIELDS",
    "IDEMPOTENCY_KEY_RETENTION",
    "IDENTIFICATION_FIELDS",
    "MAX_SUBSCRIPTIONS_PER_USER",
    "PUBLISH_BATCH",
    "PUBLISH_LOCK",
    "REQUIRED_IDENTIFICATION",
    "SECRET_PREFIX",
    "SYSTEM_USER_EMAIL",
    "EventSpec",
    "InvitationTokenGenerator",
    "SendResult",
    "advisor_create",
    "backoff_delay",
    "deliveries_create_for",
    "deliveries_send",
    "event_emit",
    "events_emit_bulk",
    "events_publish",
    "expired_credentials_clear",
    "firm_create",
    "firm_today",
    "household_add_member",
    "household_create",
    "household_update",
    "identification_missing",
    "investor_create",
    "investor_onboard",
    "investor_update",
    "invitation_accept",
    "invitation_send",
    "invitation_token",
    "invitation_user",
    "retry_window",
    "secret_new",
    "sign",
    "signed_headers",
    "subscription_create",
    "subscription_deactivate",
    "subscription_replay",
    "subscriptions_for_user",
    "system_user",
    "url_check",
    "user_create",
]
