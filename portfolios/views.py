"""The portfolios pages: the advisor's book, the account page and a household's accounts.

Each view: a user-scoped getter (404 for another user's object) -> selectors -> a full
page, or on an HTMX request the named partial of the same template. Numbers are turned
into display strings here, at one named rounding place (`_money`, `_percent`:
ROUND_HALF_EVEN), so templates never round.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.models import Role
from accounts.selectors import household_get_for_user, household_may_edit
from kronos.typing import AuthedHttpRequest
from portfolios import charts
from portfolios.forms import BookFilterForm
from portfolios.models import InvestmentAccount
from portfolios.selectors import account_get_for_user, account_list_for_user, model_portfolio_list_for_user
from portfolios.selectors_web import account_overview, account_total, book_accounts, book_for_user, drift_reports

BOOK_PAGE_SIZE = 50
CENT = Decimal("0.01")
#: Trading adds its actions (Rebalance, orders) by providing the first template; until then the empty slot renders.
ACCOUNT_ACTIONS_TEMPLATES = ["trading/_account_actions.html", "portfolios/_account_actions_slot.html"]
STAFF_ROLES = {Role.ADVISOR, Role.COMPLIANCE, Role.OPERATIONS}


# --- Display formatting: the one rounding place for pages ----------------------------------------


def _money(amount: Decimal | None, currency: str = "USD") -> str:
    if amount is None:
        return "—"
    value = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN)
    if value == 0:
        value = abs(value)
    symbol = "$" if currency == "USD" else f"{currency} "
    sign = "−" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.2f}"


def _percent(fraction: Decimal | None, places: int = 2, signed: bool = False) -> str:
    if fraction is None:
        return "—"
    value = (Decimal(fraction) * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if value == 0:
        value = abs(value)
    text = f"{value:,.{places}f}%"
    return f"+{text}" if signed and value > 0 else text.replace("-", "−")


def _quantity(q: Decimal) -> str:
    text = f"{q:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _is_staff(user: Any) -> bool:
    return user.is_superuser or bool(user.roles & STAFF_ROLES)


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


@login_required
@require_GET
@vary_on_headers("HX-Request")
def book(request: AuthedHttpRequest) -> HttpResponse:
    """Every account of the advisor's clients (compliance and operations: their firm's), sortable and filterable."""
    if not _is_staff(request.user):
        return redirect("accounts:household_list")
    models = list(model_portfolio_list_for_user(user=request.user, active_only=False))
    form = BookFilterForm(request.GET or None, models=models)
    filters = form.filters()
    rows = book_for_user(user=request.user, **filters)  # type: ignore[arg-type]
    page = Paginator(rows, BOOK_PAGE_SIZE).get_page(request.GET.get("page"))
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
                number=account.custodian_account_number,
                value=_money(row.total_value, account.base_currency),
                model=account.model.name if account.model is not None else "—",
                max_drift=_percent(row.max_drift),
                breached=row.breached,
            )
        )
    context = {
        "form": form,
        "page": page,
        "lines": lines,
        "total": len(rows),
        "breached_count": sum(1 for r in rows if r.breached),
        "sort": filters["sort"],
        "descending": filters["descending"],
        "sort_links": {
            key: {
                # A second click on the sorted column flips it; drift and value start largest first.
                "dir": ("asc" if filters["descending"] else "desc")
                if filters["sort"] == key
                else ("asc" if key == "household" else "desc"),
                "mark": ("▼" if filters["descending"] else "▲") if filters["sort"] == key else "",
                "aria": ("descending" if filters["descending"] else "ascending") if filters["sort"] == key else "none",
            }
            for key in ("household", "value", "drift")
        },
    }
    return render(request, _partial(request, "portfolios/book.html", "book-table"), context)


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
            "price": _money(p.price, currency) if p.price is not None else "no price",
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
        "may_act": household_may_edit(user=request.user, household=account.household),
        "is_staff_user": _is_staff(request.user),
        "actions_templates": ACCOUNT_ACTIONS_TEMPLATES,
    }
    return render(request, "portfolios/account_detail.html", context)


def _svg(markup: str) -> SafeString:
    # Charts escape every label they draw (portfolios.charts uses html.escape); the markup is ours.
    return mark_safe(markup)  # noqa: S308


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
        "show_drift": _is_staff(request.user),
    }
    return render(request, _partial(request, "portfolios/household_accounts.html", "household-accounts"), context)
