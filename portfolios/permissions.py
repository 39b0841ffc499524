"""Every role rule of the portfolios app: who may see or do what. The api, the views, the
selectors and the services ask here; nothing else in the app reads a user's role."""

from __future__ import annotations

from accounts.models import Household, User
from accounts.selectors import household_may_edit


def may_act_for_household(user: User, household: Household) -> bool:
    """Open, change and assign models to the household's accounts: its advisor, its firm's
    operations staff (`household_may_edit`), or a system user (a job)."""
    return bool(getattr(user, "is_system", False)) or household_may_edit(user=user, household=household)
