"""Receivers keeping `AccountFigures` current through single-row saves.

The services' bulk writes (the ledger's balances, model targets, price imports, the nightly
valuation) call `portfolios.figures` themselves; these receivers cover what is saved one row at a
time — an account's settings and model (its services save it so), a model's cash target, a price,
a substitution pair, and anything the admin or a fixture saves — in the saving transaction.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from portfolios import figures
from portfolios.models import (
    CashBalance,
    InvestmentAccount,
    ModelPortfolio,
    ModelTarget,
    Position,
    Price,
    SubstitutionPair,
)

#: The account fields its figures depend on; a save naming none of them leaves the row alone.
ACCOUNT_FIGURE_FIELDS = frozenset({"model", "drift_threshold", "band_mode", "relative_band", "base_currency", "status"})


def _account_saved(
    sender: Any, instance: InvestmentAccount, update_fields: Any = None, raw: bool = False, **_: Any
) -> None:
    if raw or (update_fields is not None and not ACCOUNT_FIGURE_FIELDS & set(update_fields)):
        return
    figures.refresh_figures([instance.pk])


def _balance_changed(sender: Any, instance: Position | CashBalance, raw: bool = False, **_: Any) -> None:
    if not raw:
        figures.refresh_figures([instance.account_id])


def _price_changed(sender: Any, instance: Price, raw: bool = False, **_: Any) -> None:
    if not raw:
        figures.refresh_following(security_ids=[instance.security_id])


def _model_changed(
    sender: Any, instance: ModelPortfolio, update_fields: Any = None, raw: bool = False, **_: Any
) -> None:
    if raw or (update_fields is not None and "cash_target" not in update_fields):
        return
    figures.refresh_following(model_ids=[instance.pk])


def _target_changed(sender: Any, instance: ModelTarget | SubstitutionPair, raw: bool = False, **_: Any) -> None:
    if not raw:
        figures.refresh_following(model_ids=[instance.model_id])


def connect() -> None:
    """Called once from `PortfoliosConfig.ready`."""
    post_save.connect(_account_saved, sender=InvestmentAccount, dispatch_uid="figures-account")
    post_save.connect(_model_changed, sender=ModelPortfolio, dispatch_uid="figures-model")
    for balance in (Position, CashBalance):
        post_save.connect(_balance_changed, sender=balance, dispatch_uid=f"figures-save-{balance.__name__}")
        post_delete.connect(_balance_changed, sender=balance, dispatch_uid=f"figures-delete-{balance.__name__}")
    post_save.connect(_price_changed, sender=Price, dispatch_uid="figures-price")
    post_delete.connect(_price_changed, sender=Price, dispatch_uid="figures-price-delete")
    for model in (ModelTarget, SubstitutionPair):
        post_save.connect(_target_changed, sender=model, dispatch_uid=f"figures-save-{model.__name__}")
        post_delete.connect(_target_changed, sender=model, dispatch_uid=f"figures-delete-{model.__name__}")
