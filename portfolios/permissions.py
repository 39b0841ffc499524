"""Every role rule of the portfolios app: who may see or do what. The api, the views, the
selectors and the services ask here; nothing else in the app reads a user's roles.

Predicates only (True/False or a queryset filter): each caller turns a refusal into its own
answer (a 403 or 404 in the API and pages, a `PortfoliosError` in a service).
"""

from __future__ import annotations

from django.db.models import Q

from accounts.models import Household, Role, User
from accounts.selectors import household_may_edit, household_scope_q
from portfolios.models import InvestmentAccount, ModelPortfolio

#: The roles that work from the book (every household of their scope), not from "my accounts".
STAFF_ROLES = frozenset({Role.ADVISOR, Role.COMPLIANCE, Role.OPERATIONS})


def is_staff(user: User) -> bool:
    """Advisors, compliance and operations staff (and superusers): the book, drift, the models list."""
    return user.is_superuser or bool(user.roles & STAFF_ROLES)


def may_change_securities(user: User) -> bool:
    """Securities and prices are operations' (and superusers')."""
    return user.is_superuser or Role.OPERATIONS in user.roles


def may_author_models(user: User) -> bool:
    """Model portfolios are written by advisors (and superusers)."""
    return user.is_superuser or Role.ADVISOR in user.roles


def may_change_model(user: User, model: ModelPortfolio) -> bool:
    """An advisor changes only their own firm's models; a superuser any."""
    return may_author_models(user) and (user.is_superuser or model.firm_id == user.firm_id)


def model_firm_id(user: User) -> int | None:
    """The firm whose models the user sees: their own, or their advisor profile's."""
    return user.firm_id or getattr(getattr(user, "advisor", None), "firm_id", None)


def sees_every_firm(user: User) -> bool:
    """Superusers see every firm's models."""
    return user.is_superuser


def may_edit_household_accounts(user: User, household: Household) -> bool:
    """The household's advisor or its firm's operations staff change its accounts."""
    return household_may_edit(user=user, household=household)


def may_act_for_household(user: User, household: Household) -> bool:
    """Open, change and assign models to the household's accounts (the services' rule): those
    who may edit the household, or a system user (a job)."""
    return bool(getattr(user, "is_system", False)) or household_may_edit(user=user, household=household)


def is_households_advisor(user: User, account: InvestmentAccount) -> bool:
    """The account's household's own advisor (or a superuser)."""
    return bool(user.is_superuser) or account.household.advisor.user_id == user.pk


def account_scope_q(user: User) -> Q:
    """The accounts the user may see: those of the households in their scope."""
    return household_scope_q(user=user, prefix="household__")


def account_scope_subquery_q(user: User, prefix: str = "") -> Q:
    """`account_scope_q` as a subquery of the households in the user's scope, for a read that
    must not repeat an account (the scope may join household members): the same accounts (every
    account has a household), found without reading the accounts twice. `prefix` reaches the
    account from another model (`"account__"`)."""
    return Q(**{f"{prefix}household_id__in": Household.objects.filter(household_scope_q(user=user)).values("pk")})
