"""The account page, a household's accounts, the investor's start page, and the account's
settings."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts.selectors import household_get_for_user
from kronos import formatting
from kronos.errors import DomainError
from kronos.typing import AuthedHttpRequest
from portfolios import charts, permissions
from portfolios.forms import (
    AccountSettingsForm,
)
from portfolios.models import InvestmentAccount, ModelPortfolio
from portfolios.selectors.accounts import account_get_for_user, account_list_for_user
from portfolios.selectors.pages import account_overview, account_total, drift_reports
from portfolios.selectors.performance import Performance, household_performance_periods
from portfolios.services.accounts import account_update, model_assign
from portfolios.views.common import (
    ACCOUNT_ACTIONS_TEMPLATES,
    _advised_account,
    _done,
    _money,
    _partial,
    _percent,
    _quantity,
    _show_error,
    _svg,
)

# --- The account page ---------------------------------------------------------------------------


@login_required
@require_GET
def account_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """KPIs, holdings, allocation against target, value against the benchmark, drift and performance.

    Investors see their own accounts read-only; the actions slot is for the household's advisor.
    """
    account = account_get_for_user(user=request.user, pk=pk)
    overview = account_overview(account)
    currency = account.base_currency
    holdings = overview.holdings
    drift = overview.drift
    drift_rows = {row.symbol: row for row in drift.report.rows} if drift else {}

    positions = [
        {
            "symbol": p.symbol,
            "name": p.name,
            "quantity": _quantity(p.quantity),
            "price": formatting.price(p.price, currency) if p.price is not None else "no price",
            "value": _money(p.market_value, currency),
            "weight": _percent(p.weight),
            "cost_basis": _money(p.cost_basis, currency),
            "gain": _money(p.unrealised_gain, currency),
            "gain_class": "pos" if p.unrealised_gain > 0 else "neg" if p.unrealised_gain < 0 else "",
        }
        for p in holdings.positions
    ]
    drift_lines = [
        {
            "symbol": row.symbol,
            "target": _percent(row.target_weight),
            "actual": _percent(row.actual_weight),
            "drift": _percent(row.drift, signed=True),
            "band": _percent(row.band),
            "breached": row.breached,
        }
        for row in (drift.report.rows if drift else ())
    ]
    bars = [
        charts.Bar(row.symbol, (row.actual_weight, row.target_weight), highlight=row.breached)
        for row in (drift.report.rows if drift else ())
    ]
    if not drift:  # no model: show the actual allocation alone
        bars = [charts.Bar(p.symbol, (p.weight, Decimal(0))) for p in holdings.positions]
        if holdings.cash:
            bars.append(charts.Bar("CASH", (holdings.cash_weight, Decimal(0))))
    allocation_svg = charts.allocation_chart(bars)
    value_svg = charts.value_chart(
        [
            charts.Series("Account (time-weighted)", overview.value_series),
            charts.Series(f"Benchmark ({overview.benchmark})", overview.benchmark_series),
        ]
    )
    periods = performance_rows(overview.periods)
    context = {
        "account": account,
        "kpis": {
            "value": _money(holdings.total_value, currency),
            "cash": _money(holdings.cash, currency),
            "cash_weight": _percent(holdings.cash_weight),
            "max_drift": _percent(drift.report.max_drift) if drift else "—",
            "threshold": _percent(drift.threshold) if drift else "",
            "breached": bool(drift and drift.report.breached),
            "needs_rebalance": bool(drift and drift.decision.rebalance),
            "reason": drift.decision.reason if drift else "",
            "model": account.model.name if account.model is not None else "No model",
        },
        "positions": positions,
        "cash_line": {"value": _money(holdings.cash, currency), "weight": _percent(holdings.cash_weight)},
        "drift_lines": drift_lines,
        "drift_rows": drift_rows,
        "periods": periods,
        "allocation_svg": _svg(allocation_svg),
        "value_svg": _svg(value_svg),
        "benchmark": overview.benchmark,
        "may_act": permissions.may_edit_household_accounts(request.user, account.household),
        "is_advisor": permissions.is_households_advisor(request.user, account),
        "is_staff_user": permissions.is_staff(request.user),
        "actions_templates": ACCOUNT_ACTIONS_TEMPLATES,
    }
    return render(request, "portfolios/account_detail.html", context)


def performance_rows(periods: list[Performance]) -> list[dict[str, object]]:
    """The performance table's cells: TWR net and gross of fees, MWR, the benchmark's, by period."""
    return [
        {
            "label": p.label,
            "start": p.start,
            "twr": _percent(p.twr, signed=True),
            "annualized": _percent(p.annualized_twr, signed=True) if p.annualized_twr is not None else "",
            "twr_gross": _percent(p.twr_gross, signed=True),
            "annualized_gross": _percent(p.annualized_twr_gross, signed=True)
            if p.annualized_twr_gross is not None
            else "",
            "mwr": _percent(p.mwr, signed=True),
            "annualized_mwr": _percent(p.annualized_mwr, signed=True) if p.annualized_mwr is not None else "",
            "benchmark": _percent(p.benchmark_twr, signed=True),
        }
        for p in periods
    ]


# --- A household's accounts (a section of the household page) ------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")
def household_accounts(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The household's accounts with value and drift: the household page loads it as a section."""
    household = household_get_for_user(user=request.user, pk=pk)
    accounts = list(account_list_for_user(user=request.user, household_id=household.pk))
    drifts = drift_reports([a for a in accounts if a.status != InvestmentAccount.Status.CLOSED])
    lines = []
    for account in accounts:
        drift = drifts.get(account.pk)
        lines.append(
            {
                "pk": account.pk,
                "name": account.name,
                "type": account.get_account_type_display(),
                "status": account.status,
                "status_label": account.get_status_display(),
                "value": _money(account_total(account), account.base_currency),
                "model": account.model.name if account.model is not None else "—",
                "max_drift": _percent(drift.report.max_drift) if drift else "—",
                "breached": bool(drift and drift.report.breached),
            }
        )
    total = sum((account_total(a) for a in accounts if a.base_currency == "USD"), Decimal(0))
    usd = [a for a in accounts if a.base_currency == "USD"]
    periods, benchmark = household_performance_periods(household.pk, usd)
    context = {
        "household": household,
        "lines": lines,
        "total": _money(total),
        "show_drift": permissions.is_staff(request.user),
        "periods": performance_rows(periods),
        "benchmark": benchmark.description,
    }
    return render(request, _partial(request, "portfolios/household_accounts.html", "household-accounts"), context)


# --- The investor's start page --------------------------------------------------------------------


@login_required
@require_GET
def my_accounts(request: AuthedHttpRequest) -> HttpResponse:
    """Where an investor lands: every account they hold (across their households) with its value,
    and the total. Three queries whatever the number of accounts (session, user, the list)."""
    if permissions.is_staff(request.user):  # staff work from the book and the households list
        return redirect("accounts:household_list")
    accounts = list(account_list_for_user(user=request.user))
    lines = [
        {
            "pk": account.pk,
            "name": account.name,
            "number": account.custodian_account_number,
            "type": account.get_account_type_display(),
            "household": account.household.name,
            "household_id": account.household_id,
            "status": account.status,
            "status_label": account.get_status_display(),
            "value": _money(account_total(account), account.base_currency),
            "cash": _money(account.cash, account.base_currency),  # type: ignore[attr-defined]
        }
        for account in accounts
    ]
    held = [a for a in accounts if a.status != InvestmentAccount.Status.CLOSED]
    currencies = sorted({a.base_currency for a in held})
    totals = [
        _money(sum((account_total(a) for a in held if a.base_currency == currency), Decimal(0)), currency)
        for currency in currencies
    ]
    return render(
        request,
        "portfolios/my_accounts.html",
        {"lines": lines, "totals": totals or [_money(Decimal(0))], "count": len(held)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The account's model and rebalancing settings, for the household's advisor."""
    account = _advised_account(request, pk)
    models = ModelPortfolio.objects.filter(firm_id=account.household.firm_id, is_active=True).order_by(
        "risk_level", "name"
    )
    initial = AccountSettingsForm.initial_for(account)
    form = AccountSettingsForm(request.POST or None, initial=initial, models=models)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():  # the settings and the model change together or not at all
                account_update(account=account, acting_user=request.user, **form.settings_changes(account))
                if data["model"] != account.model:
                    model_assign(account=account, model=data["model"], acting_user=request.user)
        except DomainError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return _done(request, reverse("portfolios:account_detail", args=[account.pk]))
    context = {"form": form, "account": account}
    return render(request, _partial(request, "portfolios/account_settings.html", "settings-form"), context)
