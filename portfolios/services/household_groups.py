"""Writes to household rebalancing groups (`portfolios.models.RebalancingGroup`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction

from accounts.models import Household, User
from kronos.errors import DomainError
from kronos.history import save_attributed
from portfolios.errors import PortfoliosError
from portfolios.models import InvestmentAccount, ModelPortfolio, RebalancingGroup, RebalancingGroupMember
from portfolios.services.accounts import model_assign


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


def _members_take_the_model(
    accounts: Sequence[InvestmentAccount], model: ModelPortfolio, *, name: str, acting_user: User
) -> None:
    """The accounts joining the group `name` not already on `model` are put on it (before they
    are members: `model_assign` refuses a grouped account any model but its group's)."""
    on_it = set(
        InvestmentAccount.objects.filter(pk__in=[a.pk for a in accounts], model=model).values_list("pk", flat=True)
    )
    for account in accounts:
        if account.pk in on_it:
            continue
        try:
            model_assign(account=account, model=model, acting_user=acting_user, reason=f"joined group {name}")
        except DomainError as exc:
            raise PortfoliosError(
                f"{account.name} cannot take the group's model: {exc.message}", field="accounts"
            ) from exc


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
    household is returned as it is (a retried request makes no second group).

    Each member takes the group's model if it is on another (or none), through the model
    assignment's own checks (suitability), each change in its history: a grouped account is
    planned, harvested and measured on the group's model, and `model_assign` keeps it there. A
    member the checks refuse refuses the group, naming the account; nothing is written."""
    existing = RebalancingGroup.objects.filter(household=household, name=name.strip()).first()
    if existing is not None:
        return existing
    accounts = list({a.pk: a for a in accounts}.values())
    _validate(household=household, name=name, model=model, accounts=accounts, group_id=None)
    _members_take_the_model(accounts, model, name=name.strip(), acting_user=acting_user)
    group = RebalancingGroup(household=household, name=name.strip(), model=model, created_by=acting_user)
    if drift_threshold is not None:
        group.drift_threshold = drift_threshold
    save_attributed(group, acting_user=acting_user, reason="rebalancing group created")
    for account in accounts:
        save_attributed(
            RebalancingGroupMember(group=group, account=account), acting_user=acting_user, reason="joined group"
        )
    return group
