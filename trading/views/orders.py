"""The account's trading page, placing an order from it, and cancelling one."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from kronos.typing import AuthedHttpRequest
from portfolios import selectors as portfolio_selectors
from portfolios.models import InvestmentAccount
from trading import permissions, selectors, services
from trading.errors import TradingError
from trading.forms import OrderForm, TransferForm
from trading.lifecycle import OPEN_STATES
from trading.models import Order
from trading.services.common import buying_power, withdrawable_cash
from trading.views.common import account_for_trading, redirect_to


def _page_context(
    request: AuthedHttpRequest, account: InvestmentAccount, *, may_trade: bool, form: OrderForm
) -> dict[str, Any]:
    orders = list(selectors.order_list_for_user(user=request.user, account=account)[:50])
    return {
        "account": account,
        "may_trade": may_trade,
        "orders": orders,
        "any_open": any(o.status in OPEN_STATES for o in orders),
        "proposals": selectors.proposal_list_for_account(account=account)[:10],
        "transfers": selectors.transfer_list_for_account(account=account)[:10],
        "form": form,
        "transfer_form": TransferForm(),
        "buying_power": buying_power(account),
        "withdrawable": withdrawable_cash(account),
        "lots": portfolio_selectors.lot_rows(accounts=[account], as_of=timezone.localdate()) if may_trade else [],
    }


@login_required
@require_GET
def account_trading(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The account's orders (live while any is open), proposals, transfers and order form."""
    account = selectors.account_get_for_user(user=request.user, pk=pk)
    may_trade = permissions.account_may_trade(user=request.user, account=account)
    context = _page_context(request, account, may_trade=may_trade, form=OrderForm())
    if request.htmx and request.GET.get("part") == "orders":
        return render(request, "trading/account_trading.html#orders", context)
    return render(request, "trading/account_trading.html", context)


@login_required
@require_POST
def order_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    account = account_for_trading(request, pk)
    form = OrderForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            order = services.order_create(
                account=account,
                security=data["symbol"],
                side=data["side"],
                order_type=data["order_type"],
                quantity=data["quantity"],
                amount=data["amount"],
                limit_price=data["limit_price"] if data["order_type"] == "limit" else None,
                lot_selection=form.lot_selection(),
                acting_user=request.user,
                source=Order.Source.ADVISOR,
            )
        except TradingError as exc:
            field = "lots" if exc.field == "lot_selection" else exc.field
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"Order {order.pk}: {order.get_side_display().lower()} {order.security.symbol} — {order.status_label.lower()}.",
            )
            return redirect_to(request, reverse("trading:account_trading", args=[account.pk]))
    context = _page_context(request, account, may_trade=True, form=form)
    if request.htmx:
        # htmx 2 swaps no 4xx response by default: the form with its errors comes back as 200.
        return render(request, "trading/account_trading.html#order-form", context)
    return render(request, "trading/account_trading.html", context, status=400)


@login_required
@require_POST
def order_cancel(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    order = selectors.order_get_for_user(user=request.user, pk=pk)
    account_for_trading(request, order.account_id)
    try:
        services.order_cancel(order=order, acting_user=request.user)
        messages.success(request, f"Order {order.pk} cancelled (or cancel requested).")
    except TradingError as exc:
        messages.error(request, exc.message)
    return redirect_to(request, reverse("trading:account_trading", args=[order.account_id]))
