"""The control portfolios runs before it assigns a model to an account, filled in by compliance
(suitability) in its `AppConfig.ready()`; see kronos/checks_registry.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from kronos.checks_registry import Slot

if TYPE_CHECKING:  # portfolios.models need not be loaded to declare the slot
    from portfolios.models import InvestmentAccount, ModelPortfolio


class ModelAssignCheck(Protocol):
    """Raise a DomainError to refuse `model` for `account`."""

    def __call__(self, *, account: InvestmentAccount, model: ModelPortfolio) -> None: ...


MODEL_ASSIGN_CHECKS: Slot[ModelAssignCheck] = Slot(
    "portfolios.model_assign",
    required=("compliance.suitability",),
    doc="a model riskier than the account owners' risk level is refused.",
)


class AccountCreatedHook(Protocol):
    """Called after the commit that opened the account (onboarding starts the account's paperwork)."""

    def __call__(self, *, account_id: int) -> None: ...


class AccountSettingsChangedHook(Protocol):
    """Called inside the transaction that changed an account's settings, with the fields whose
    value changed (trading tells the custodian what it keeps of them)."""

    def __call__(self, *, account: InvestmentAccount, changed: frozenset[str]) -> None: ...


ACCOUNT_SETTINGS_CHANGED_HOOKS: Slot[AccountSettingsChangedHook] = Slot(
    "portfolios.account_settings_changed",
    required=("trading.custodian_account_settings",),
    doc="a change of whether an account trades fractional shares is sent to the custodian (the outbox).",
)


ACCOUNT_CREATED_HOOKS: Slot[AccountCreatedHook] = Slot(
    "portfolios.account_created",
    required=("onboarding.account_created",),
    doc="a pending account whose owners must sign its agreements is put on the household's onboarding.",
)
