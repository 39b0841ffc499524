"""Shared by the portfolios API views: output formats and the role checks (asked of
`portfolios.permissions`) that turn a refusal into a 403."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied

from accounts.models import Household, User
from portfolios import permissions
from portfolios.models import ModelPortfolio

CASH_SYMBOL = "CASH"
#: Computed weights and drift are rounded to 6 places (the models' weight precision), returns
#: to 8, ROUND_HALF_EVEN: the API's one rounding place for them.
WEIGHT_OUT: dict[str, Any] = {"output_places": 6, "strip_zeros": True}
RETURN_OUT: dict[str, Any] = {"output_places": 8, "strip_zeros": True}


# --- Who may write ---------------------------------------------------------------------------------


def _require_operations(user: User) -> None:
    if not permissions.may_change_securities(user):
        raise PermissionDenied("Only operations staff may change securities and prices.")


def _require_model_author(user: User, model: ModelPortfolio | None = None) -> None:
    if not permissions.may_author_models(user):
        raise PermissionDenied("Only advisors may create or change model portfolios.")
    if model is not None and not permissions.may_change_model(user, model):
        raise PermissionDenied("Advisors may change only their own firm's models.")


def _require_account_editor(user: User, household: Household) -> None:
    if not permissions.may_edit_household_accounts(user, household):
        raise PermissionDenied("Only the household's advisor may change its accounts.")
