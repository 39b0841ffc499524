"""Bulk work from the book: the open proposals of the advisor's accounts, approved together
(each through the approval service), their orders sent as block orders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from kronos.typing import AuthedHttpRequest
from portfolios.selectors import model_affected_accounts
from trading import permissions, selectors, services
from trading.views.common import redirect_to

BULK_APPROVE_MAX = 200


@login_required
@require_GET
def proposals_open(request: AuthedHttpRequest) -> HttpResponse:
    """The open proposals of the accounts the user trades, to approve several at once."""
    proposals = list(selectors.proposals_open_for_user(user=request.user))
    return render(request, "trading/proposals_open.html", {"proposals": proposals})


@login_required
@require_POST
def proposals_approve_bulk(request: AuthedHttpRequest) -> HttpResponse:
    """Approve the selected proposals (POST proposal=<id> repeated): 404 for the whole selection
    if any is not the user's to trade; each approved through `proposal_approve`, one that cannot
    be approved named with its reason; same-security orders across accounts sent as blocks."""
    raw = request.POST.getlist("proposal")
    if len(raw) > BULK_APPROVE_MAX:
        messages.error(request, f"Select at most {BULK_APPROVE_MAX} proposals at a time.")
        return redirect_to(request, reverse("trading:proposals_open"))
    try:
        ids = sorted({int(value) for value in raw})
    except ValueError:
        raise Http404("No such proposal.") from None
    if not ids:
        messages.error(request, "Select at least one proposal to approve.")
        return redirect_to(request, reverse("trading:proposals_open"))
    proposals = selectors.proposals_for_trading(user=request.user, ids=ids)
    result = services.proposals_approve_bulk(proposals=proposals, acting_user=request.user)
    return render(request, "trading/proposals_approved.html", {"result": result})


@login_required
@require_POST
def model_rebalance(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The model page's "Queue rebalance proposals": a proposal for every account on the model
    that the user trades, and for every household group on it (one per trading account)."""
    model = selectors.model_for_user(user=request.user, pk=pk)
    accounts = [
        a
        for a in model_affected_accounts(user=request.user, model=model)
        if permissions.account_may_trade(user=request.user, account=a)
    ]
    if not accounts:
        messages.error(request, "None of your accounts follows this model.")
        return redirect_to(request, reverse("portfolios:model_edit", args=[model.pk]))
    direct = [a.pk for a in accounts if a.model_id == model.pk and not hasattr(a, "rebalancing_membership")]
    created = services.proposal_create_for_accounts(account_ids=direct, acting_user=request.user) if direct else []
    groups = {
        a.rebalancing_membership.group.pk: a.rebalancing_membership.group
        for a in accounts
        if hasattr(a, "rebalancing_membership") and a.rebalancing_membership.group.model_id == model.pk
    }
    for group in groups.values():
        created += services.household_rebalance_propose(group=group, acting_user=request.user).proposals
    proposals = selectors.proposal_list_by_ids(ids=[p.pk for p in created])
    return render(request, "trading/proposals_bulk.html", {"proposals": proposals, "selected": len(accounts)})
