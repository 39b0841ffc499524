"""What the trading pages share: the account a write is allowed on, and the HTMX-aware redirect."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import redirect

from kronos.typing import AuthedHttpRequest
from portfolios.models import InvestmentAccount
from trading import permissions, selectors


def account_for_trading(request: AuthedHttpRequest, pk: int) -> InvestmentAccount:
    """The account, if the user may trade it; else 404."""
    account = selectors.account_get_for_user(user=request.user, pk=pk)
    if not permissions.account_may_trade(user=request.user, account=account):
        raise Http404
    return account


def redirect_to(request: AuthedHttpRequest, url: str) -> HttpResponse:
    """A redirect (HX-Redirect on an HTMX request)."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
