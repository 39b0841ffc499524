"""Writes to investment accounts: opening (with the account type's ownership rules), the
custodian's number, settings, status and the model."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Household, HouseholdMember, User
from accounts.services import event_emit
from kronos.history import save_attributed
from portfolios import ledger, permissions
from portfolios.checks import ACCOUNT_CREATED_HOOKS, ACCOUNT_SETTINGS_CHANGED_HOOKS, MODEL_ASSIGN_CHECKS
from portfolios.errors import PortfoliosError
from portfolios.models import (
    ACCOUNT_SETTINGS,
    AccountOwner,
    Beneficiary,
    InvestmentAccount,
    ModelPortfolio,
    RebalancingGroup,
)
from portfolios.services.common import parse_decimal
from portfolios.services.ownership import BeneficiarySpec, ownership_errors

# --- Investment accounts ------------------------------------------------------------------------

ACCOUNT_EDITABLE_FIELDS = frozenset(ACCOUNT_SETTINGS) | {"name", "account_type", "status"}


def _validate_settings(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "drift_threshold" in values:
        v = out["drift_threshold"] = parse_decimal(
            values["drift_threshold"], field="drift_threshold", what="The threshold"
        )
        if not 0 < v <= 1:
            raise PortfoliosError("The drift threshold must be above 0% and at most 100%.", field="drift_threshold")
    if "relative_band" in values:
        v = out["relative_band"] = parse_decimal(
            values["relative_band"], field="relative_band", what="The relative band"
        )
        if not 0 < v <= 1:
            raise PortfoliosError("The relative band must be above 0% and at most 100%.", field="relative_band")
    if "cash_reserve" in values:
        v = out["cash_reserve"] = parse_decimal(values["cash_reserve"], field="cash_reserve", what="The cash reserve")
        if not 0 <= v < 1:
            raise PortfoliosError("The cash reserve must be at least 0% and below 100%.", field="cash_reserve")
    if "min_trade_amount" in values:
        amount = values["min_trade_amount"]
        amount = getattr(amount, "amount", amount)  # a Money is accepted in the base currency
        v = out["min_trade_amount"] = parse_decimal(amount, field="min_trade_amount", what="The minimum trade")
        if v < 0:
            raise PortfoliosError("The minimum trade cannot be negative.", field="min_trade_amount")
    if "band_mode" in values and values["band_mode"] not in InvestmentAccount.BandMode.values:
        raise PortfoliosError(f"'{values['band_mode']}' is not a band mode.", field="band_mode")
    if "reinvest_dividends" in values and not isinstance(values["reinvest_dividends"], bool):
        raise PortfoliosError("Reinvesting dividends is yes or no (true or false).", field="reinvest_dividends")
    if "rebalance_mode" in values and values["rebalance_mode"] not in InvestmentAccount.RebalanceMode.values:
        raise PortfoliosError(f"'{values['rebalance_mode']}' is not a rebalance mode.", field="rebalance_mode")
    schedules = InvestmentAccount.RebalanceSchedule.values
    if "rebalance_schedule" in values and values["rebalance_schedule"] not in schedules:
        raise PortfoliosError(
            f"'{values['rebalance_schedule']}' is not a rebalance schedule.", field="rebalance_schedule"
        )
    methods = InvestmentAccount.LotReliefMethod.values
    if "lot_relief_method" in values and values["lot_relief_method"] not in methods:
        raise PortfoliosError(
            f"'{values['lot_relief_method']}' is not a lot relief method ({', '.join(methods)}).",
            field="lot_relief_method",
        )
    return out


@transaction.atomic
def account_create(
    *,
    household: Household,
    name: str,
    acting_user: User,
    custodian_account_number: str | None = None,
    account_type: str = InvestmentAccount.AccountType.INDIVIDUAL,
    base_currency: str = "USD",
    model: ModelPortfolio | None = None,
    opened_on: date | None = None,
    owners: Sequence[Any] | None = None,
    beneficiaries: Sequence[BeneficiarySpec] = (),
    **account_settings: Any,
) -> InvestmentAccount:
    """Open an account for a household. The acting user must be the household's advisor, its
    firm's operations staff or a system user; settings are validated (threshold in (0, 1],
    reserve in [0, 1), minimum trade >= 0); a model goes through `model_assign`'s checks.

    Without a custodian account number the account is opened *through Kronos*: it starts
    `pending` and the custodian gives the number (`account_custodian_opened`); the account
    type's ownership and beneficiary rules (`ownership_errors`) are enforced, with the
    household's primary and joint members as the owners when none are named. With a number
    the account already exists at the custodian (a transfer, an import) and is recorded as
    it is, owners and beneficiaries validated only when given."""
    unknown = set(account_settings) - set(ACCOUNT_SETTINGS)
    if unknown:
        raise PortfoliosError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    if not permissions.may_act_for_household(acting_user, household):
        raise PortfoliosError("You may not open accounts for this household.", field="household", code="forbidden")
    if account_type not in InvestmentAccount.AccountType.values:
        raise PortfoliosError(f"'{account_type}' is not an account type.", field="account_type")
    number = (custodian_account_number or "").strip() or None
    if number is not None and InvestmentAccount.objects.filter(custodian_account_number=number).exists():
        raise PortfoliosError(
            f"The custodian account number {number} is already used.", field="custodian_account_number", status_code=409
        )
    if not (name or "").strip():
        raise PortfoliosError("The account needs a name.", field="name")
    roles: list[tuple[Any, str]] = []
    if number is None or owners is not None or beneficiaries:
        if owners is None:
            owners = [
                m.investor
                for m in household.members.filter(
                    relationship__in=[HouseholdMember.Relationship.PRIMARY, HouseholdMember.Relationship.JOINT]
                )
                .select_related("investor")
                .order_by("id")
            ]
            if account_type == InvestmentAccount.AccountType.INDIVIDUAL or account_type in InvestmentAccount.IRA_TYPES:
                owners = owners[:1]
        errors, roles = ownership_errors(
            household=household, account_type=account_type, owners=list(owners), beneficiaries=list(beneficiaries)
        )
        if errors:
            field = next(iter(errors))
            raise PortfoliosError(errors[field][0], field=field, errors=errors)
    cleaned = _validate_settings(account_settings)
    account = InvestmentAccount(
        household=household,
        name=name.strip(),
        account_type=account_type,
        custodian_account_number=number,
        status=InvestmentAccount.Status.OPEN if number else InvestmentAccount.Status.PENDING,
        base_currency=base_currency.upper(),
        opened_on=opened_on or timezone.localdate(),
        **cleaned,
    )
    try:
        save_attributed(account, acting_user=acting_user, reason="account opened" if number else "account requested")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
    for investor, role in roles:
        save_attributed(
            AccountOwner(account=account, investor=investor, role=role), acting_user=acting_user, reason="owner added"
        )
    for b in beneficiaries:
        save_attributed(
            Beneficiary(
                account=account,
                name=b.name.strip(),
                relationship=b.relationship.strip(),
                share_percent=b.share_percent,
                kind=b.kind,
            ),
            acting_user=acting_user,
            reason="beneficiary named",
        )
    ledger.client_book(account)
    if model is not None:
        account = model_assign(account=account, model=model, acting_user=acting_user)
    if account.status == InvestmentAccount.Status.OPEN:
        account_opened_emit(account)  # a pending account's event comes when the custodian opens it
    _account_created_hooks(account.pk)
    return account


def _account_created_hooks(account_id: int) -> None:
    """Each hook in `portfolios.checks.ACCOUNT_CREATED_HOOKS` (onboarding's, registered in its
    AppConfig.ready()) is called after commit as `hook(account_id=...)`."""
    for hook in ACCOUNT_CREATED_HOOKS.checks():
        transaction.on_commit(functools.partial(hook, account_id=account_id))


def account_opened_emit(account: InvestmentAccount) -> None:
    """The `account.opened` event, in the caller's transaction: at creation for an account that
    already exists at the custodian, when the custodian opens it for one opened through Kronos."""
    household = account.household
    event_emit(
        kind="account.opened",
        firm=household.firm_id,
        household=household,
        account=account,
        subject_type="account",
        subject_id=account.pk,
        payload={
            "account": account.pk,
            "household": household.pk,
            "name": account.name,
            "account_type": account.account_type,
            "base_currency": account.base_currency,
            "opened_on": account.opened_on,
            "status": account.status,
            "custodian_account_number": account.custodian_account_number,
        },
    )


@transaction.atomic
def account_custodian_opened(*, account: InvestmentAccount, number: str, acting_user: User) -> InvestmentAccount:
    """Record the number the custodian gave a pending account, and open it. Safe to repeat
    (the same number again changes nothing); a different number for an opened account, or a
    number another account holds, is refused."""
    number = (number or "").strip()
    if not number or len(number) > 40:
        raise PortfoliosError(
            "The custodian account number must be 1 to 40 characters.", field="custodian_account_number"
        )
    account = InvestmentAccount.objects.select_for_update().get(pk=account.pk)
    if account.custodian_account_number == number:
        return account
    if account.custodian_account_number:
        raise PortfoliosError(
            f"The account already has the custodian number {account.custodian_account_number}.",
            field="custodian_account_number",
        )
    if InvestmentAccount.objects.filter(custodian_account_number=number).exclude(pk=account.pk).exists():
        raise PortfoliosError(
            f"The custodian account number {number} is already used.", field="custodian_account_number", status_code=409
        )
    account.custodian_account_number = number
    if account.status == InvestmentAccount.Status.PENDING:
        account.status = InvestmentAccount.Status.OPEN
        account.opened_on = timezone.localdate()
    try:
        return save_attributed(account, acting_user=acting_user, reason="opened at the custodian")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc


@transaction.atomic
def account_update(*, account: InvestmentAccount, acting_user: User, **changes: Any) -> InvestmentAccount:
    """Change an account's name, type, status or rebalancing settings (validated as at creation).

    Closing sets `closed_on`; a closed account cannot be reopened."""
    unknown = set(changes) - ACCOUNT_EDITABLE_FIELDS
    if unknown:
        raise PortfoliosError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    account = InvestmentAccount.objects.select_for_update().select_related("household__advisor").get(pk=account.pk)
    if not permissions.may_act_for_household(acting_user, account.household):
        raise PortfoliosError("You may not change this account.", code="forbidden")
    cleaned = _validate_settings(changes)
    if "status" in cleaned:
        status = cleaned["status"]
        if status not in InvestmentAccount.Status.values:
            raise PortfoliosError(f"'{status}' is not an account status.", field="status")
        if account.status == InvestmentAccount.Status.CLOSED and status != InvestmentAccount.Status.CLOSED:
            raise PortfoliosError("A closed account cannot be reopened.", field="status")
        if status == InvestmentAccount.Status.CLOSED and account.closed_on is None:
            account.closed_on = timezone.localdate()
    if "account_type" in cleaned and cleaned["account_type"] not in InvestmentAccount.AccountType.values:
        raise PortfoliosError(f"'{cleaned['account_type']}' is not an account type.", field="account_type")
    values = {field: value.strip() if field == "name" else value for field, value in cleaned.items()}
    changed = frozenset(field for field, value in values.items() if getattr(account, field) != value)
    for field, value in values.items():
        setattr(account, field, value)
    try:
        save_attributed(account, acting_user=acting_user, reason="account updated")
    except ValidationError as exc:
        raise PortfoliosError.from_validation(exc) from exc
    if changed:
        for hook in ACCOUNT_SETTINGS_CHANGED_HOOKS.checks():
            hook(account=account, changed=changed)
    return account  # its figures: the InvestmentAccount receiver in portfolios.signals


@transaction.atomic
def model_assign(
    *, account: InvestmentAccount, model: ModelPortfolio | None, acting_user: User, reason: str = ""
) -> InvestmentAccount:
    """Assign (or, with None, remove) an account's model (`reason`, when given, follows the
    history row's "model assigned: ...").

    The model must be active and belong to the account's firm; then `_model_assign_checks`
    may refuse it (compliance plugs suitability in there).
    """
    account = InvestmentAccount.objects.select_for_update().select_related("household").get(pk=account.pk)
    if not permissions.may_act_for_household(acting_user, account.household):
        raise PortfoliosError("You may not change this account.", code="forbidden")
    if account.status == InvestmentAccount.Status.CLOSED:
        raise PortfoliosError("The account is closed.", field="account")
    # An account in an active household rebalancing group is planned, harvested and measured on
    # the group's model: a model of its own would show the advisor another drift than the one
    # its trades follow (the firm simulation found a harvest sell what the account's own model
    # counted as another target's substitute).
    group = (
        RebalancingGroup.objects.filter(is_active=True, members__account_id=account.pk).select_related("model").first()
    )
    if group is not None and (model is None or model.pk != group.model_id):
        raise PortfoliosError(
            f"The account is rebalanced with its household's group {group.name} on the model {group.model.name}: "
            "change the group's model, or take the account out of the group first.",
            field="model",
        )
    if model is not None:
        if model.firm_id != account.household.firm_id:
            raise PortfoliosError("The model belongs to another firm.", field="model")
        if not model.is_active:
            raise PortfoliosError(f"The model {model.name} is not active.", field="model")
        _model_assign_checks(account, model)
    account.model = model
    # Its figures (drift against the new model): the InvestmentAccount receiver in portfolios.signals.
    why = f"model assigned: {model.name}" if model else "model removed"
    return save_attributed(account, acting_user=acting_user, reason=f"{why} ({reason})" if reason else why)


def _model_assign_checks(account: InvestmentAccount, model: ModelPortfolio) -> None:
    """The compliance checks of a model assignment: each check in
    `portfolios.checks.MODEL_ASSIGN_CHECKS` is called as `check(account=..., model=...)` and may
    raise a DomainError to refuse (compliance registers suitability there)."""
    for check in MODEL_ASSIGN_CHECKS.checks():
        check(account=account, model=model)
