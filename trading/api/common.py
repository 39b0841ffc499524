"""What the trading API's resources share: the account a write is allowed on."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from kronos.api.permissions import api_user
from portfolios.models import InvestmentAccount
from trading import permissions, selectors


def account_for_write(request: Request, pk: int, *, transfer: bool = False) -> InvestmentAccount:
    """The account, if the caller may trade it (or, with `transfer`, move its cash); else 404."""
    account = selectors.account_get_for_user(user=api_user(request), pk=pk)
    allowed = (
        permissions.account_may_transfer(user=api_user(request), account=account)
        if transfer
        else permissions.account_may_trade(user=api_user(request), account=account)
    )
    if not allowed:
        raise NotFound()
    return account
