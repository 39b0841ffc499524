"""Trading pages (HTMX) and the custodian's webhook endpoint.

Every view that touches an account, order or proposal first calls a user-scoped getter
(404 for others'); writes are for the household's advisor. On an HTMX request the view
renders the named partial of the same template.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from kronos.inputs import JSONInputError, loads_json
from kronos.typing import AuthedHttpRequest
from portfolios.models import InvestmentAccount
from trading import selectors, services
from trading.adapters.custodian import signing
from trading.errors import TradingError
from trading.forms import OrderForm, TransferForm
from trading.lifecycle import OPEN_STATES
from trading.models import Order
from trading.services.common import buying_power, withdrawable_cash

logger = logging.getLogger(__name__)


def _account_rw(request: AuthedHttpRequest, pk: int) -> InvestmentAccount:
    account = selectors.account_get_for_user(user=request.user, pk=pk)
    if not selectors.account_may_trade(user=request.user, account=account):
        raise Http404
    return account


def _redirect(request: AuthedHttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@login_required
@require_GET
def account_trading(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The account's orders (live while any is open), proposals, transfers and order form."""
    account = selectors.account_get_for_user(user=request.user, pk=pk)
    may_trade = selectors.account_may_trade(user=request.user, account=account)
    orders = list(selectors.order_list_for_user(user=request.user, account=account)[:50])
    context = {
        "account": account,
        "may_trade": may_trade,
        "orders": orders,
        "any_open": any(o.status in OPEN_STATES for o in orders),
        "proposals": selectors.proposal_list_for_account(account=account)[:10],
        "transfers": selectors.transfer_list_for_account(account=account)[:10],
        "form": OrderForm(),
        "transfer_form": TransferForm(),
        "buying_power": buying_power(account),
        "withdrawable": withdrawable_cash(account),
    }
    if request.htmx and request.GET.get("part") == "orders":
        return render(request, "trading/account_trading.html#orders", context)
    return render(request, "trading/account_trading.html", context)


@login_required
@require_POST
def order_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    account = _account_rw(request, pk)
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
                acting_user=request.user,
                source=Order.Source.ADVISOR,
            )
        except TradingError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"Order {order.pk}: {order.get_side_display().lower()} {order.security.symbol} — {order.status_label.lower()}.",
            )
            return _redirect(request, reverse("trading:account_trading", args=[account.pk]))
    orders = list(selectors.order_list_for_user(user=request.user, account=account)[:50])
    context = {
        "account": account,
        "may_trade": True,
        "orders": orders,
        "any_open": any(o.status in OPEN_STATES for o in orders),
        "proposals": selectors.proposal_list_for_account(account=account)[:10],
        "transfers": selectors.transfer_list_for_account(account=account)[:10],
        "form": form,
        "transfer_form": TransferForm(),
        "buying_power": buying_power(account),
        "withdrawable": withdrawable_cash(account),
    }
    if request.htmx:
        # htmx 2 swaps no 4xx response by default: the form with its errors comes back as 200.
        return render(request, "trading/account_trading.html#order-form", context)
    return render(request, "trading/account_trading.html", context, status=400)


@login_required
@require_POST
def transfer_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    account = selectors.account_get_for_user(user=request.user, pk=pk)
    if not selectors.account_may_transfer(user=request.user, account=account):
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
                    approve=selectors.account_may_trade(user=request.user, account=account),
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
    return _redirect(request, reverse("trading:account_trading", args=[account.pk]))


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


@login_required
@require_POST
def order_cancel(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    order = selectors.order_get_for_user(user=request.user, pk=pk)
    _account_rw(request, order.account_id)
    try:
        services.order_cancel(order=order, acting_user=request.user)
        messages.success(request, f"Order {order.pk} cancelled (or cancel requested).")
    except TradingError as exc:
        messages.error(request, exc.message)
    return _redirect(request, reverse("trading:account_trading", args=[order.account_id]))


@login_required
@require_POST
def proposal_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The account page's "Rebalance" button: propose now, then show the proposal."""
    account = _account_rw(request, pk)
    created = services.proposal_create_for_accounts(account_ids=[account.pk], acting_user=request.user)
    if not created:
        messages.error(request, "The account has no model portfolio to rebalance to.")
        return _redirect(request, reverse("trading:account_trading", args=[account.pk]))
    return _redirect(request, reverse("trading:proposal_detail", args=[created[0].pk]))


BULK_REBALANCE_MAX = 500


def _book_url(request: AuthedHttpRequest) -> str:
    referer = request.META.get("HTTP_REFERER") or ""
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        return referer
    return reverse("portfolios:book")


@login_required
@require_POST
def proposals_create_bulk(request: AuthedHttpRequest) -> HttpResponse:
    """Rebalance a selection of accounts from the book (POST account=<id> repeated)."""
    raw_ids = request.POST.getlist("account")
    if len(raw_ids) > BULK_REBALANCE_MAX:
        messages.error(request, f"Select at most {BULK_REBALANCE_MAX} accounts at a time.")
        return _redirect(request, _book_url(request))
    try:
        ids = [int(raw) for raw in raw_ids]
    except ValueError:
        raise Http404("No such account.") from None
    # Any account outside the user's scope -> 404 for the whole selection; one query.
    accounts = selectors.account_list_for_user(user=request.user, pks=ids)
    if any(not selectors.account_may_trade(user=request.user, account=a) for a in accounts):
        raise Http404("No such account.")
    allowed = [a.pk for a in accounts]
    if not allowed:
        messages.error(request, "Select at least one of your accounts to rebalance.")
        return _redirect(request, _book_url(request))
    created = services.proposal_create_for_accounts(account_ids=allowed, acting_user=request.user)
    proposals = selectors.proposal_list_by_ids(ids=[p.pk for p in created])
    return render(request, "trading/proposals_bulk.html", {"proposals": proposals, "selected": len(allowed)})


@login_required
@require_GET
def proposal_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    proposal = selectors.proposal_get_for_user(user=request.user, pk=pk)
    orders = list(proposal.orders.all())
    context = {
        "proposal": proposal,
        "account": proposal.account,
        "may_trade": selectors.account_may_trade(user=request.user, account=proposal.account),
        "orders": orders,
        "any_open": any(o.status in OPEN_STATES for o in orders),
    }
    if request.htmx and request.GET.get("part") == "orders":
        return render(request, "trading/proposal_detail.html#proposal-orders", context)
    return render(request, "trading/proposal_detail.html", context)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _approval_message(orders: list[Any]) -> tuple[int, str]:
    """What approving did, order by order: placed, waiting for the sells' cash, in review,
    rejected (each rejected one named with its reason). A warning when any did not go out."""
    by_status: dict[str, list[Any]] = {}
    for order in orders:
        by_status.setdefault(order.status, []).append(order)
    waiting = by_status.pop("awaiting_funds", [])
    review = by_status.pop("pending_review", [])
    rejected = by_status.pop("rejected", []) + by_status.pop("cancelled", []) + by_status.pop("failed", [])
    placed = sum(len(v) for v in by_status.values())
    parts = [f"{_plural(placed, 'order')} placed"]
    if waiting:
        parts.append(f"{_plural(len(waiting), 'buy')} waiting for the sells to fill")
    if review:
        parts.append(f"{len(review)} in compliance review ({', '.join(o.security.symbol for o in review)})")
    if rejected:
        parts.append(
            f"{len(rejected)} rejected: "
            + "; ".join(f"{o.security.symbol} {o.side} — {o.status_reason}" for o in rejected)
        )
    level = messages.WARNING if rejected or review else messages.SUCCESS
    return level, "Approved: " + ", ".join(parts) + "."


@login_required
@require_POST
def proposal_decide(request: AuthedHttpRequest, pk: int, decision: str) -> HttpResponse:
    proposal = selectors.proposal_get_for_user(user=request.user, pk=pk)
    _account_rw(request, proposal.account_id)
    try:
        if decision == "approve":
            orders = services.proposal_approve(proposal=proposal, acting_user=request.user)
            level, text = _approval_message(orders)
            messages.add_message(request, level, text)
        else:
            services.proposal_discard(proposal=proposal, acting_user=request.user)
            messages.success(request, "Proposal discarded.")
    except TradingError as exc:
        messages.error(request, exc.message)
    return _redirect(request, reverse("trading:proposal_detail", args=[proposal.pk]))


@login_required
@require_GET
def operations(request: AuthedHttpRequest) -> HttpResponse:
    """Outbox backlog and recent orders by state, for operations staff."""
    if not (request.user.is_superuser or Role.OPERATIONS in request.user.roles):
        raise PermissionDenied
    context = selectors.operations_summary(user=request.user)
    if request.htmx:
        return render(request, "trading/operations.html#ops-body", context)
    return render(request, "trading/operations.html", context)


@csrf_exempt
@require_POST
def custodian_webhook(request: HttpRequest) -> HttpResponse:
    """The custodian's signed events. 401 for a bad or missing signature, 400 for a stale or
    future timestamp or an event we cannot read (the custodian retries non-2xx), 422 for a fill
    refused and recorded as an anomaly (beyond its order, or for an ended order), 200
    otherwise, including for a duplicate (it changes nothing)."""
    body = request.body
    try:
        signing.verify(
            settings.CUSTODIAN_WEBHOOK_SECRET,
            request.headers.get(signing.SIGNATURE_HEADER),
            body,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
    except signing.SignatureError as exc:
        return JsonResponse({"detail": str(exc)}, status=400 if exc.stale else 401)
    try:
        event = loads_json(body)
    except JSONInputError as exc:
        return JsonResponse({"detail": f"The body is refused: {exc}."}, status=400)
    except ValueError:
        return JsonResponse({"detail": "The body is not JSON."}, status=400)
    if not isinstance(event, dict):
        return JsonResponse({"detail": "The body is not a JSON object."}, status=400)
    try:
        result = services.webhook_event_apply(event=event)
    except TradingError as exc:
        logger.warning("custodian webhook refused", extra={"error": exc.message})
        return JsonResponse({"detail": exc.message}, status=400)
    if result.startswith("refused"):
        # Understood but not booked (beyond the order, or the order had ended): a FillAnomaly
        # for operations; the event is recorded, so a redelivery is a duplicate.
        return JsonResponse({"result": "refused", "detail": result}, status=422)
    return JsonResponse({"result": result})
