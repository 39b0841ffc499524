"""Writes to household rebalancing groups (`portfolios.models.RebalancingGroup`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction

from accounts.models import Household, User
from kronos.history import save_attributed
from portfolios.errors import PortfoliosError
from portfolios.models import InvestmentAccount, ModelPortfolio, RebalancingGroup, RebalancingGroupMember


def _validate(
    *,
    household: Household,
    name: str,
    model: ModelPortfolio,
    accounts: Sequence[InvestmentAccount],
    group_id: int | None,
) -> None:
    if not name.strip():
        raise PortfoliosError("Name the group.", field="name")
    if model.firm_id != household.firm_id or not model.is_active:
        raise PortfoliosError("Choose an active model portfolio of the household's firm.", field="model")
    if len(accounts) < 2:
        raise PortfoliosError("A rebalancing group holds at least two accounts.", field="accounts")
    for account in accounts:
        if account.household_id != household.pk:
            raise PortfoliosError(f"{account.name} is not an account of this household.", field="accounts")
        if account.status == InvestmentAccount.Status.CLOSED:
            raise PortfoliosError(f"{account.name} is closed.", field="accounts")
    taken = (
        RebalancingGroupMember.objects.filter(account__in=accounts)
        .exclude(group_id=group_id)
        .select_related("account", "group")
    )
    for member in taken:
        raise PortfoliosError(f"{member.account.name} is already in the group {member.group.name}.", field="accounts")


@transaction.atomic
def rebalancing_group_create(
    *,
    household: Household,
    name: str,
    model: ModelPortfolio,
    accounts: Sequence[InvestmentAccount],
    drift_threshold: Decimal | None = None,
    acting_user: User,
) -> RebalancingGroup:
    """A group of at least two open accounts of `household`, none in another group, managed to
    `model` (an active model of the household's firm). A group of the same name in the
    household is returned as it is (a retried request makes no second group)."""
    existing = RebalancingGroup.objects.filter(household=household, name=name.strip()).first()
    if existing is not None:
        return existing
    accounts = list({a.pk: a for a in accounts}.values())
    _validate(household=household, name=name, model=model, accounts=accounts, group_id=None)
    group = RebalancingGroup(household=household, name=name.strip(), model=model, created_by=acting_user)
    if drift_threshold is not None:
        group.drift_threshold = drift_threshold
    save_attributed(group, acting_user=acting_user, reason="rebalancing group created")
    for account in accounts:
        save_attributed(
            RebalancingGroupMember(group=group, account=account), acting_user=acting_user, reason="joined group"
        )
    return group
