"""The portfolios pages: the advisor's book, the account page and a household's accounts.

Each view: a user-scoped getter (404 for another user's object) -> selectors -> a full
page, or on an HTMX request the named partial of the same template. Numbers are turned
into display strings here by the portal's one display rule (`kronos.formatting`: money,
percent and quantity, ROUND_HALF_EVEN), the rule the templates' filters apply too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts.selectors import household_get_for_user
from kronos import formatting, readcache
from kronos.errors import DomainError
from kronos.typing import AuthedHttpRequest
from portfolios import charts, permissions, services
from portfolios.forms import (
    AccountSettingsForm,
    BookFilterForm,
    ModelPortfolioForm,
    TargetFormSet,
    TransferInForm,
    TransferPositionFormSet,
    to_fraction,
    to_percent,
)
from portfolios.models import InvestmentAccount, ModelPortfolio
from portfolios.selectors import (
    account_get_for_user,
    account_list_for_user,
    account_overview,
    account_total,
    book_accounts,
    book_for_user,
    drift_reports,
    model_portfolio_list_for_user,
)

BOOK_PAGE_SIZE = 50
#: Trading adds its actions (Rebalance, orders) by providing the first template; until then the empty slot renders.
ACCOUNT_ACTIONS_TEMPLATES = ["trading/_account_actions.html", "portfolios/_account_actions_slot.html"]


# --- Display formatting: the one rounding place for pages ----------------------------------------


def _money(amount: Decimal | None, currency: str = "USD") -> str:
    return formatting.money(amount, currency)


def _percent(fraction: Decimal | None, places: int = 2, signed: bool = False) -> str:
    return formatting.percent(fraction, places, signed=signed)


def _quantity(q: Decimal) -> str:
    return formatting.quantity(q)


def _partial(request: HttpRequest, template: str, name: str) -> str:
    """The named partial for an HTMX swap; the full page otherwise (and for a history restore)."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        return f"{template}#{name}"
    return template


# --- The book -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookLine:
    pk: int
    household: str
    household_id: int
    name: str
    account_type: str
    number: str
    value: str
    model: str
    max_drift: str
    breached: bool


def _book_page(user: Any, filters: dict[str, Any], page_number: str | None) -> tuple[Any, list[BookLine], int, int]:
    """The book's page of lines with the totals over all its rows: what the book page caches."""
    rows = book_for_user(user=user, **filters)
    page = Paginator(rows, BOOK_PAGE_SIZE).get_page(page_number)
    accounts = book_accounts([row.pk for row in page.object_list])
    lines = []
    for row in page.object_list:
        account = accounts[row.pk]
        lines.append(
            BookLine(
                pk=row.pk,
                household=row.household,
                household_id=account.household_id,
                name=row.name,
                account_type=account.get_account_type_display(),
                number=account.custodian_account_number or "opening",
                value=_money(row.total_value, account.base_currency),
                model=account.model.name if account.model is not None else "—",
                max_drift=_percent(row.max_drift),
                breached=row.breached,
            )
        )
    return page, lines, len(rows), sum(1 for r in rows if r.breached)


@login_required
@require_GET
@readcache.cached_page
@vary_on_headers("HX-Request")
def book(request: AuthedHttpRequest) -> HttpResponse:
    """Every account of the advisor's clients (compliance and operations: their firm's), sortable and filterable."""
    if not permissions.is_staff(request.user):
        return redirect("accounts:household_list")
    # The filter's choices need names only (no targets prefetched), kept in the read cache
    # with the table: the page then asks the database nothing of its own when nothing changed.
    models = readcache.cached(
        f"book-models:{request.user.pk}",
        lambda: list(
            model_portfolio_list_for_user(user=request.user, active_only=False)
            .prefetch_related(None)
            .values_list("pk", "name")
        ),
    )
    form = BookFilterForm(request.GET or None, models=models)
    filters = form.filters()

    def render_table() -> str:
        page, lines, total, breached_count = _book_page(request.user, filters, request.GET.get("page"))
        context = {
            "form": form,
            "page": page,
            "lines": lines,
            "total": total,
            "breached_count": breached_count,
            "sort": filters["sort"],
            "descending": filters["descending"],
            "sort_links": {
                key: {
                    # A second click on the sorted column flips it; drift and value start largest first.
                    "dir": ("asc" if filters["descending"] else "desc")
                    if filters["sort"] == key
                    else ("asc" if key == "household" else "desc"),
                    "mark": ("▼" if filters["descending"] else "▲") if filters["sort"] == key else "",
                    "aria": ("descending" if filters["descending"] else "ascending")
                    if filters["sort"] == key
                    else "none",
                }
                for key in ("household", "value", "drift")
            },
        }
        return render_to_string("portfolios/book.html#book-table", context, request)

    # The table (no form, no CSRF token) is kept rendered in the read cache until the data changes.
    table = readcache.remember(request, "book-table", render_table)
    if request.htmx:
        return HttpResponse(table)
    return render(
        request,
        "portfolios/book.html",
        {"form": form, "book_table": table, "sort": filters["sort"], "descending": filters["descending"]},
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
    periods = [
        {
            "label": p.label,
            "start": p.start,
            "twr": _percent(p.twr, signed=True),
            "annualized": _percent(p.annualized_twr, signed=True) if p.annualized_twr is not None else "",
            "benchmark": _percent(p.benchmark_twr, signed=True),
        }
        for p in overview.periods
    ]
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


def _svg(markup: str) -> SafeString:
    # Charts escape every label they draw (portfolios.charts uses html.escape); the markup is ours.
    return mark_safe(markup)  # noqa: S308  # nosec B308 B703 -- chart markup escaped by portfolios.charts


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
    context = {
        "household": household,
        "lines": lines,
        "total": _money(total),
        "show_drift": permissions.is_staff(request.user),
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


# --- Writes: models, account settings, transfers in ----------------------------------------------
#
# Forms only parse; every write goes through portfolios.services (and compliance's suitability
# hook inside model_assign). A DomainError's message is shown on the form, and the write it
# refused leaves nothing behind (services are atomic; the settings page wraps its two services
# in one transaction).


def _done(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful POST: a redirect (an HX-Redirect for an HTMX request, so the page changes)."""
    if getattr(request, "htmx", None):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _show_error(form: forms.Form, exc: DomainError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


def _require_advisor(user: Any) -> None:
    """Model writes are for the firm's advisors: other staff are refused, everyone else gets a 404."""
    if permissions.may_author_models(user):
        return
    if permissions.is_staff(user):
        raise PermissionDenied("Only advisors change model portfolios.")
    raise Http404


def _advised_account(request: AuthedHttpRequest, pk: int) -> InvestmentAccount:
    """One of the user's accounts of which the user is the household's advisor, or 404."""
    account = account_get_for_user(user=request.user, pk=pk)
    if not permissions.is_households_advisor(request.user, account):
        raise Http404
    return account


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
            model = services.model_portfolio_create(
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
            model = services.model_portfolio_update(
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
    context = {"form": form, "formset": formset, "model": model}
    return render(request, _partial(request, "portfolios/model_form.html", "model-form"), context)


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
                services.account_update(account=account, acting_user=request.user, **form.settings_changes(account))
                if data["model"] != account.model:
                    services.model_assign(account=account, model=data["model"], acting_user=request.user)
        except DomainError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return _done(request, reverse("portfolios:account_detail", args=[account.pk]))
    context = {"form": form, "account": account}
    return render(request, _partial(request, "portfolios/account_settings.html", "settings-form"), context)


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
            services.transfer_in(
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
