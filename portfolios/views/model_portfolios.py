"""Model portfolios: the list, and the advisor's create and edit pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from kronos.errors import DomainError
from kronos.typing import AuthedHttpRequest
from portfolios import permissions
from portfolios.forms import (
    ModelPortfolioForm,
    TargetFormSet,
    to_fraction,
    to_percent,
)
from portfolios.selectors.accounts import model_affected_accounts, model_portfolio_list_for_user
from portfolios.services.model_portfolios import model_portfolio_create, model_portfolio_update
from portfolios.views.common import (
    _done,
    _partial,
    _percent,
    _require_advisor,
    _show_error,
)


@login_required
@require_GET
def model_list(request: AuthedHttpRequest) -> HttpResponse:
    """The firm's models with risk level, cash target and targets (advisors edit; compliance/ops read)."""
    if not permissions.is_staff(request.user):
        return redirect("accounts:household_list")
    models = [
        {
            "pk": m.pk,
            "name": m.name,
            "risk_level": m.risk_level,
            "is_active": m.is_active,
            "cash_target": _percent(m.cash_target),
            "targets": [(t.security.symbol, _percent(t.weight)) for t in m.targets.all()],
        }
        for m in model_portfolio_list_for_user(user=request.user, active_only=False)
    ]
    may_edit = permissions.may_author_models(request.user)
    return render(request, "portfolios/model_list.html", {"models": models, "may_edit": may_edit})


def _target_rows(formset: Any) -> list[tuple[str, Decimal]]:
    # A row with a symbol has a weight (TargetForm.clean refuses one without).
    return [
        (f.cleaned_data["symbol"], to_fraction(f.cleaned_data["weight"]))
        for f in formset.forms
        if f.cleaned_data.get("symbol")
    ]


@login_required
@require_http_methods(["GET", "POST"])
def model_create(request: AuthedHttpRequest) -> HttpResponse:
    _require_advisor(request.user)
    firm = request.user.firm or getattr(getattr(request.user, "advisor", None), "firm", None)
    if firm is None:
        raise Http404
    form = ModelPortfolioForm(request.POST or None, initial={"cash_target": 0, "is_active": True})
    formset = TargetFormSet(request.POST or None, prefix="targets")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            model = model_portfolio_create(
                firm=firm,
                name=data["name"],
                risk_level=data["risk_level"],
                cash_target=to_fraction(data["cash_target"]),
                targets=_target_rows(formset),
                description=data["description"],
                is_active=data["is_active"],
                acting_user=request.user,
            )
        except DomainError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, f"Model {model.name} created.")
            return _done(request, reverse("portfolios:model_list"))
    context = {"form": form, "formset": formset, "model": None}
    return render(request, _partial(request, "portfolios/model_form.html", "model-form"), context)


@login_required
@require_http_methods(["GET", "POST"])
def model_edit(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    model = get_object_or_404(model_portfolio_list_for_user(user=request.user, active_only=False), pk=pk)
    _require_advisor(request.user)
    initial = {
        "name": model.name,
        "risk_level": model.risk_level,
        "cash_target": to_percent(model.cash_target),
        "description": model.description,
        "is_active": model.is_active,
    }
    targets = [{"symbol": t.security.symbol, "weight": to_percent(t.weight)} for t in model.targets.all()]
    form = ModelPortfolioForm(request.POST or None, initial=initial)
    # Bound without `initial`: an unchanged pre-filled row would otherwise count as empty and be dropped.
    formset = (
        TargetFormSet(request.POST, prefix="targets")
        if request.method == "POST"
        else TargetFormSet(prefix="targets", initial=targets)
    )
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            model = model_portfolio_update(
                model=model,
                acting_user=request.user,
                targets=_target_rows(formset),
                cash_target=to_fraction(data["cash_target"]),
                name=data["name"],
                risk_level=data["risk_level"],
                description=data["description"],
                is_active=data["is_active"],
            )
        except DomainError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, f"Model {model.name} saved.")
            return _done(request, reverse("portfolios:model_list"))
    affected = model_affected_accounts(user=request.user, model=model)
    context = {"form": form, "formset": formset, "model": model, "affected": affected}
    return render(request, _partial(request, "portfolios/model_form.html", "model-form"), context)
