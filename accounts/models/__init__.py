"""Users, firms, advisors, households and their investors; the idempotency keys of the API; the
events out and their webhooks. One module per subject; every model is re-exported here, so
`accounts.models.User` and the app label `accounts` stay as they were.

Every model holding personal data carries a history table; the acting user of each change is
recorded by `simple_history` (the request's user on the web, the token's user in the API, a
named system user in jobs).
"""

from accounts.models.events import (
    KINDS,
    Event,
    EventKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from accounts.models.firms import Advisor, Firm, Household
from accounts.models.idempotency import IdempotencyKey
from accounts.models.investors import (
    INVESTOR_SECRET_FIELDS,
    EmploymentStatus,
    HouseholdMember,
    IncomeRange,
    InvestmentObjective,
    Investor,
    InvestorInvitation,
    NetWorthRange,
)
from accounts.models.users import STAFF_ROLES, Role, User, UserManager

__all__ = [
    "INVESTOR_SECRET_FIELDS",
    "KINDS",
    "STAFF_ROLES",
    "Advisor",
    "EmploymentStatus",
    "Event",
    "EventKind",
    "Firm",
    "Household",
    "HouseholdMember",
    "IdempotencyKey",
    "IncomeRange",
    "InvestmentObjective",
    "Investor",
    "InvestorInvitation",
    "NetWorthRange",
    "Role",
    "User",
    "UserManager",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
