"""Every role rule of the trading app: who may see which accounts, trade them, move their cash,
and see the operations page. The api, the views and the selectors ask here; nothing else in the
app tests a role.

- Seeing an account (its orders, proposals, transfers, journal): the household scope of
  `accounts.selectors.household_scope_q` — the household's advisor and investors, the firm's
  compliance and operations staff.
- Trading it (orders, proposals, household rebalancing and harvesting): the household's advisor,
  or a superuser.
- Moving its cash (deposits, withdrawals): whoever may trade it, or an investor of the household.
- The operations page: operations staff, or a superuser; it shows their firm's orders.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import Household, Role, User
from accounts.selectors import household_scope_q
from portfolios.models import InvestmentAccount
from trading.models import Order


def visible_accounts_q(user: User) -> Q:
    """The accounts `user` may see, as a filter on InvestmentAccount."""
    return household_scope_q(user=user, prefix="household__")


def visible_account_ids(user: User) -> QuerySet[InvestmentAccount, Any]:
    """The ids of the accounts `user` may see (a subquery)."""
    return InvestmentAccount.objects.filter(visible_accounts_q(user)).values("pk")


def account_may_trade(*, user: User, account: InvestmentAccount) -> bool:
    """Orders and proposals: the household's advisor (or a superuser)."""
    return bool(user.is_superuser or account.household.advisor.user_id == user.pk)


def household_may_trade(*, user: User, household: Household) -> bool:
    """Household-wide trading (a rebalancing group's proposals, loss harvesting): the household's
    advisor (or a superuser), as for each of its accounts."""
    return bool(user.is_superuser or household.advisor.user_id == user.pk)


def account_may_transfer(*, user: User, account: InvestmentAccount) -> bool:
    """Deposits and withdrawals: the advisor, or an investor of the household."""
    if account_may_trade(user=user, account=account):
        return True
    return Role.INVESTOR in user.roles and account.household.members.filter(investor__user_id=user.pk).exists()


def tradable_accounts_q(user: User) -> Q:
    """The accounts `user` may trade (`account_may_trade`), as a filter on InvestmentAccount."""
    if user.is_superuser:
        return Q()
    return Q(household__advisor__user_id=user.pk)


def blotter_orders_q(user: User) -> Q | None:
    """The firm-wide trade blotter's scope, as a filter on Order: an advisor sees the orders of
    the households they advise, compliance and operations staff their firm's, a superuser
    every firm's. None for anyone else (an investor): the page is not theirs."""
    if user.is_superuser:
        return Q()
    roles = user.roles
    q = None
    if (Role.COMPLIANCE in roles or Role.OPERATIONS in roles) and user.firm_id:
        q = Q(account__household__firm_id=user.firm_id)
    if Role.ADVISOR in roles:
        mine = Q(account__household__advisor__user_id=user.pk)
        q = mine if q is None else q | mine
    return q


def may_see_operations(user: User) -> bool:
    """The operations page (outbox backlog, orders by state, refused fills)."""
    return bool(user.is_superuser or Role.OPERATIONS in user.roles)


def firm_orders(user: User) -> QuerySet[Order]:
    """The orders the operations page counts for `user`: every order for a superuser, their
    firm's otherwise (none without a firm)."""
    if user.is_superuser:
        return Order.objects.all()
    if user.firm_id is None:
        return Order.objects.none()
    return Order.objects.filter(account__household__firm_id=user.firm_id)
