"""A household's tax and household-level work: its rebalancing groups (made here, proposed for as a
whole) and tax-loss harvesting (harvest now, the losses harvested per account and year). The
household's advisor's page (`trading.permissions.household_may_trade`); 404 for anyone else."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Household
from kronos.errors import DomainError
from kronos.typing import AuthedHttpRequest
from portfolios import services as portfolio_services
from portfolios.models import InvestmentAccount, ModelPortfolio, RebalancingGroup
from trading import selectors, services
from trading.models import RebalanceProposal
from trading.views.common import redirect_to


class GroupForm(forms.Form):
    name = forms.CharField(max_length=120)
    model = forms.ModelChoiceField(queryset=ModelPortfolio.objects.none())
    accounts = forms.ModelMultipleChoiceField(
        queryset=InvestmentAccount.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    drift_threshold = forms.DecimalField(
        required=False, min_value=0.01, max_value=100, decimal_places=2, label="Band (points)", initial=5
    )

    def __init__(self, *args, household: Household, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = ModelPortfolio.objects.filter(firm_id=household.firm_id, is_active=True)  # type: ignore[attr-defined]
        self.fields["accounts"].queryset = InvestmentAccount.objects.filter(  # type: ignore[attr-defined]
            household=household
        ).exclude(status=InvestmentAccount.Status.CLOSED)


def _context(household: Household, form: GroupForm) -> dict[str, object]:
    groups = list(
        RebalancingGroup.objects.filter(household=household)
        .select_related("model")
        .prefetch_related("members__account")
        .order_by("name")
    )
    accounts = list(InvestmentAccount.objects.filter(household=household).order_by("name", "pk"))
    ids = [a.pk for a in accounts]
    return {
        "household": household,
        "groups": groups,
        "form": form,
        "harvested": selectors.harvested_losses(account_ids=ids),
        "harvests": list(
            RebalanceProposal.objects.filter(account_id__in=ids, harvest__isnull=False)
            .select_related("account", "harvest")
            .order_by("-created_at")[:20]
        ),
    }


@login_required
@require_GET
def household_tax(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = selectors.household_for_trading(user=request.user, pk=pk)
    return render(request, "trading/household_tax.html", _context(household, GroupForm(household=household)))


@login_required
@require_POST
def group_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = selectors.household_for_trading(user=request.user, pk=pk)
    form = GroupForm(request.POST, household=household)
    if form.is_valid():
        data = form.cleaned_data
        band = data.get("drift_threshold")
        try:
            portfolio_services.rebalancing_group_create(
                household=household,
                name=data["name"],
                model=data["model"],
                accounts=list(data["accounts"]),
                drift_threshold=None if band is None else band / 100,
                acting_user=request.user,
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Rebalancing group {data['name']} made.")
            return redirect_to(request, reverse("trading:household_tax", args=[household.pk]))
    return render(request, "trading/household_tax.html", _context(household, form), status=400)


@login_required
@require_POST
def group_propose(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """Propose for one of the household's groups (POST group=<id>) as a whole."""
    household = selectors.household_for_trading(user=request.user, pk=pk)
    raw = request.POST.get("group", "")
    wellformed = raw.isascii() and raw.isdigit() and len(raw) <= 18  # "²" is a digit int() refuses
    group = selectors.rebalancing_group_for_household(household=household, pk=int(raw)) if wellformed else None
    if group is None:
        messages.error(request, "Choose one of the household's active rebalancing groups.")
        return redirect_to(request, reverse("trading:household_tax", args=[household.pk]))
    try:
        result = services.household_rebalance_propose(group=group, acting_user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect_to(request, reverse("trading:household_tax", args=[household.pk]))
    if not result.proposals:
        waiting = any(row.breached for row in result.plan.drift_before)  # outside, but no trade may help
        messages.info(
            request,
            f"The group {group.name} is not traded. " + " ".join(result.plan.notes)
            if waiting
            else f"The group {group.name} is inside its bands: nothing to trade.",
        )
        return redirect_to(request, reverse("trading:household_tax", args=[household.pk]))
    proposals = selectors.proposal_list_by_ids(ids=[p.pk for p in result.proposals])
    return render(
        request, "trading/proposals_bulk.html", {"proposals": proposals, "selected": len(group.members.all())}
    )


@login_required
@require_POST
def harvest_create(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The on-demand harvest: scan the household now."""
    household = selectors.household_for_trading(user=request.user, pk=pk)
    result = services.harvest_proposals_create(household=household, acting_user=request.user)
    if result.proposals:
        messages.success(
            request,
            f"{len(result.plan.harvests)} loss{'es' if len(result.plan.harvests) != 1 else ''} to harvest: "
            f"review the proposal{'s' if len(result.proposals) != 1 else ''} below.",
        )
    else:
        messages.info(request, "No loss to harvest. " + " ".join(result.plan.notes))
    return redirect_to(request, reverse("trading:household_tax", args=[household.pk]))
