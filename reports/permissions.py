"""Every role rule of reports: who sees which statement batches and who starts them. Statements
themselves follow the accounts' scope (`accounts.selectors.household_scope_q`): whoever may see
the account may read its statement."""

from __future__ import annotations

from django.db.models import Q

from accounts.models import Advisor, Role, User


def batch_scope_q(user: User) -> Q:
    """Operations and compliance staff see their firm's batches; an advisor those of their book."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    q = Q(pk__in=[])
    if (Role.OPERATIONS in user.roles or Role.COMPLIANCE in user.roles) and user.firm_id:
        q |= Q(firm_id=user.firm_id)
    if Role.ADVISOR in user.roles:
        q |= Q(advisor__user_id=user.pk)
    return q


def may_start_batch(user: User) -> bool:
    """Operations staff start batches for their firm (or one advisor's book); advisors for their own book."""
    return bool(user.is_superuser or (Role.OPERATIONS in user.roles and user.firm_id) or Role.ADVISOR in user.roles)


def batch_advisor_for(user: User, *, advisor_id: int | None = None) -> Advisor | None:
    """The book a batch started by `user` covers: an advisor's own; operations' choice (None: the firm)."""
    if Role.OPERATIONS in user.roles and user.firm_id:
        if advisor_id is None:
            return None
        return Advisor.objects.filter(pk=advisor_id, firm_id=user.firm_id).first()
    return Advisor.objects.filter(user=user).first()


def is_operations(user: User) -> bool:
    return bool(user.is_superuser or (Role.OPERATIONS in user.roles and user.firm_id))
