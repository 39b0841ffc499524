"""Deposits and withdrawals from the account's trading page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from kronos.typing import AuthedHttpRequest
from trading import permissions, selectors, services
from trading.errors import TradingError
from trading.forms import TransferForm
from trading.views.common import redirect_to


@login_required
@require_POST
def transfer_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    account = selectors.account_get_for_user(user=request.user, pk=pk)
    if not permissions.account_may_transfer(user=request.user, account=account):
        raise Http404
    form = TransferForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["direction"] == "withdrawal" and data["raise_cash"]:
                transfer, proposal = services.withdrawal_request(
                    account=account,
                    amount=data["amount"],
                    acting_user=request.user,
                    approve=permissions.account_may_trade(user=request.user, account=account),
                )
            else:
                transfer = services.transfer_create(
                    account=account,
                    direction=data["direction"],
                    amount=data["amount"],
                    currency=account.base_currency,
                    acting_user=request.user,
                )
                proposal = None
        except TradingError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _transfer_message(transfer, proposal))
    else:
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect_to(request, reverse("trading:account_trading", args=[account.pk]))


def _transfer_message(transfer: Any, proposal: Any) -> str:
    if proposal is None:
        return f"{transfer.get_direction_display()} requested."
    amount = f"{transfer.amount:,.2f} {transfer.currency}"
    if proposal.status == "approved":
        how = f"sale proposal {proposal.pk} is approved and its sell orders are placed"
    else:
        how = f"sale proposal {proposal.pk} waits for the advisor's approval"
    return (
        f"Withdrawal of {amount} requested. The cash is short, so {how}; "
        "the withdrawal is sent once the sales have settled."
    )
