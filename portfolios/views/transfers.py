"""A transfer in: holdings and cash brought into an account from another custodian."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from kronos.errors import DomainError
from kronos.typing import AuthedHttpRequest
from portfolios.forms import (
    TransferInForm,
    TransferPositionFormSet,
)
from portfolios.services import transfers
from portfolios.views.common import (
    _advised_account,
    _done,
    _partial,
    _show_error,
)


@login_required
@require_http_methods(["GET", "POST"])
def transfer_in(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """Holdings and cash brought in from another custodian, for the household's advisor.

    The form carries an idempotency key made when it is rendered: a double submit posts once.
    """
    account = _advised_account(request, pk)
    form = TransferInForm(request.POST or None, initial={"idempotency_key": uuid.uuid4()})
    formset = TransferPositionFormSet(request.POST or None, prefix="positions")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        positions = [
            {
                "symbol": f.cleaned_data["symbol"],
                "quantity": f.cleaned_data["quantity"],
                "cost_basis": f.cleaned_data["cost_basis"] or Decimal(0),
                "acquired_on": f.cleaned_data["acquired_on"],
            }
            for f in formset.forms
            if f.cleaned_data.get("symbol")
        ]
        cash = form.cleaned_data["cash"]
        try:
            transfers.transfer_in(
                account=account,
                positions=positions,
                cash=cash if cash else None,
                acting_user=request.user,
                idempotency_key=f"web:transfer-in:{account.pk}:{request.user.pk}:{form.cleaned_data['idempotency_key']}",
            )
        except DomainError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, "Transfer in recorded.")
            return _done(request, reverse("portfolios:account_detail", args=[account.pk]))
    context = {"form": form, "formset": formset, "account": account}
    return render(request, _partial(request, "portfolios/transfer_in.html", "transfer-form"), context)
