"""Every role rule of onboarding: who reads a household's documents, who creates households."""

from __future__ import annotations

from accounts.models import Household, Role, User


def may_read_documents(*, user: User, household: Household) -> bool:
    """The household's investors, its advisor and its firm's compliance staff (not operations-only
    staff: signed agreements and identity documents are not theirs to read)."""
    if user.is_superuser:
        return True
    if Role.COMPLIANCE in user.roles and user.firm_id == household.firm_id:
        return True
    if household.advisor.user_id == user.pk:
        return True
    return household.members.filter(investor__user_id=user.pk).exists()


def creates_households_for_advisors(user: User) -> bool:
    """Operations staff of a firm create households for any advisor of it (and choose the advisor)."""
    return Role.OPERATIONS in user.roles and bool(user.firm_id)


def may_create_household(user: User) -> bool:
    """An advisor creates households they advise; operations staff create them for their firm's advisors."""
    return creates_households_for_advisors(user) or Role.ADVISOR in user.roles
