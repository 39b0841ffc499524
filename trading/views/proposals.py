"""Rebalance proposals: propose for one account or a selection from the book, read, approve or
discard."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from kronos.typing import AuthedHttpRequest
from trading import permissions, selectors, services
from trading.errors import TradingError
from trading.lifecycle import OPEN_STATES
from trading.views.common import account_for_trading, redirect_to


@login_required
@require_POST
def proposal_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The account page's "Rebalance" button: propose now, then show the proposal."""
    account = account_for_trading(request, pk)
    created = services.proposal_create_for_accounts(account_ids=[account.pk], acting_user=request.user)
    if not created:
        messages.error(request, "The account has no model portfolio to rebalance to.")
        return redirect_to(request, reverse("trading:account_trading", args=[account.pk]))
    return redirect_to(request, reverse("trading:proposal_detail", args=[created[0].pk]))


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
        return redirect_to(request, _book_url(request))
    try:
        ids = [int(raw) for raw in raw_ids]
    except ValueError:
        raise Http404("No such account.") from None
    # Any account outside the user's scope -> 404 for the whole selection; one query.
    accounts = selectors.account_list_for_user(user=request.user, pks=ids)
    if any(not permissions.account_may_trade(user=request.user, account=a) for a in accounts):
        raise Http404("No such account.")
    allowed = [a.pk for a in accounts]
    if not allowed:
        messages.error(request, "Select at least one of your accounts to rebalance.")
        return redirect_to(request, _book_url(request))
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
        "may_trade": permissions.account_may_trade(user=request.user, account=proposal.account),
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
    account_for_trading(request, proposal.account_id)
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
    return redirect_to(request, reverse("trading:proposal_detail", args=[proposal.pk]))
