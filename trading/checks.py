"""The controls trading runs before an order and before money moves, filled in by the apps that own
them (compliance, onboarding) in their `AppConfig.ready()`; see kronos/checks_registry.py."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from kronos.checks_registry import Slot

if TYPE_CHECKING:
    from portfolios.models import InvestmentAccount


class PretradeIntent(Protocol):
    """What a pre-trade check reads of an order intent (trading.services.common.OrderIntent is
    one; declared here so the slot needs nothing of trading.services, which imports it)."""

    @property
    def account(self) -> Any: ...
    @property
    def security(self) -> Any: ...
    @property
    def side(self) -> str: ...
    @property
    def quantity(self) -> Decimal | None: ...
    @property
    def amount(self) -> Decimal | None: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def source(self) -> str: ...


class CheckResultLike(Protocol):
    """One rule's verdict: outcome "pass", "warn" or "fail"; a hard fail rejects the order."""

    @property
    def rule(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def hard(self) -> bool: ...
    @property
    def message(self) -> str: ...


class PretradeCheck(Protocol):
    def __call__(self, intent: PretradeIntent, /) -> Iterable[CheckResultLike]: ...


class FundingCheck(Protocol):
    """(ok, the reason when not) for a deposit or withdrawal in `account` now."""

    def __call__(self, account: InvestmentAccount, /) -> tuple[bool, str]: ...


PRETRADE_CHECKS: Slot[PretradeCheck] = Slot(
    "trading.pretrade",
    required=("compliance.pretrade",),
    doc="every order intent is checked (KYC, AML, restrictions, suitability, concentration, funds, wash sales).",
)
FUNDING_CHECKS: Slot[FundingCheck] = Slot(
    "trading.funding",
    required=("compliance.account_may_transact", "onboarding.agreements_signed"),
    doc="no deposit or withdrawal unless the owners are cleared and the agreements signed.",
)
