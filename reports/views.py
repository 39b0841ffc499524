"""Pages of reports: statements (the list, one statement's page with the same figures as its PDF,
the PDF), an account's statements, the batches and their progress, and the exports.

Every view that touches an object first reads it through a scoped selector (404 for anyone
else's); exports read through the same selectors as their pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import household_get_for_user
from kronos.typing import AuthedHttpRequest
from operations import selectors as operations_selectors
from operations.permissions import is_operations_staff
from portfolios import permissions as portfolio_permissions
from portfolios import selectors as portfolio_selectors
from reports import charts, exports, permissions, selectors, services
from reports.errors import ReportsError
from reports.forms import BatchForm, StatementRequestForm
from reports.models import Statement, StatementBatch, StatementKind


def _figures_context(statement: Statement) -> dict[str, Any]:
    if statement.kind == StatementKind.STATEMENT:
        assert statement.account is not None
        return {"f": selectors.statement_figures(statement.account, period_end=statement.period_end)}
    report = selectors.household_report(statement.household, period_end=statement.period_end)
    chart = charts.allocation_svg([(s.label, s.weight) for s in report.allocation])
    return {"r": report, "chart": chart}


@login_required
@require_GET
def statement_list(request: AuthedHttpRequest) -> HttpResponse:
    """The statements and reports the user may see (an investor: their own), newest first."""
    page = Paginator(selectors.statement_list_for_user(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "reports/statement_list.html", {"page": page, "statements": page.object_list})


@login_required
@require_GET
def statement_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """A statement's figures as a page: the same selector as its PDF and the API."""
    statement = selectors.statement_get_for_user(user=request.user, pk=pk)
    context = {"statement": statement, **_figures_context(statement)}
    return render(request, "reports/statement_detail.html", context)


@login_required
@require_GET
def statement_pdf(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    statement = selectors.statement_get_for_user(user=request.user, pk=pk)
    return pdf_response(statement)


def pdf_response(statement: Statement) -> HttpResponse:
    if statement.status != Statement.Status.READY or statement.document is None:
        raise Http404("The statement is not ready.")
    document = statement.document
    response = HttpResponse(bytes(document.content), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{document.filename}"'
    response["X-Content-SHA256"] = document.sha256
    return response


@login_required
@require_http_methods(["GET", "POST"])
def account_statements(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """An account's statements, and a form to ask for one to a date."""
    account = portfolio_selectors.account_get_for_user(user=request.user, pk=pk)
    form = StatementRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.statement_request(
                account=account, period_end=form.cleaned_data["period_end"], acting_user=request.user
            )
        except ReportsError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "The statement is being prepared.")
            return redirect("reports:account_statements", pk=account.pk)
    statements = selectors.statement_list_for_account(account=account)
    return render(
        request,
        "reports/account_statements.html",
        {"account": account, "statements": statements, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def statement_retry(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """Queue a failed statement again (those who follow its batches: operations, the advisor)."""
    statement = selectors.statement_get_for_user(user=request.user, pk=pk)
    if not permissions.may_start_batch(request.user):
        raise Http404
    services.statement_retry(statement=statement, acting_user=request.user)
    messages.success(request, "The statement is queued again.")
    batch = (
        StatementBatch.objects.filter(statements=statement)
        .filter(permissions.batch_scope_q(request.user))
        .order_by("-pk")
        .first()
    )
    if batch is not None:
        return redirect("reports:batch_detail", pk=batch.pk)
    return redirect("reports:statement_detail", pk=statement.pk)


# --- Batches ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def batch_list(request: AuthedHttpRequest) -> HttpResponse:
    """The statement batches of the user's book (operations: the firm's), and "Generate"."""
    if not portfolio_permissions.is_staff(request.user):
        raise Http404
    ops = permissions.is_operations(request.user)
    form = BatchForm(request.POST or None, user=request.user if ops else None)
    if request.method == "POST":
        if not permissions.may_start_batch(request.user):
            raise Http404
        if form.is_valid():
            advisor = permissions.batch_advisor_for(request.user, advisor_id=form.advisor_id())
            firm = advisor.firm if advisor is not None else request.user.firm
            if firm is None:
                raise Http404
            try:
                batch = services.batch_start(
                    firm=firm,
                    period_end=form.cleaned_data["period_end"],
                    advisor=advisor,
                    acting_user=request.user,
                )
            except ReportsError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"{batch.total} statements and reports queued.")
                return redirect("reports:batch_detail", pk=batch.pk)
    batches = selectors.batch_list_for_user(user=request.user)[:50]
    return render(
        request,
        "reports/batch_list.html",
        {"batches": batches, "form": form, "may_start": permissions.may_start_batch(request.user)},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def batch_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """A batch's progress (done / total, failures with their errors); the progress polls itself."""
    batch = selectors.batch_get_for_user(user=request.user, pk=pk)
    page = Paginator(selectors.batch_statements(batch=batch), 100).get_page(request.GET.get("page"))
    template = "reports/batch_detail.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, {"batch": batch, "page": page, "statements": page.object_list})


# --- Exports ---------------------------------------------------------------------------------


def _fmt(fmt: str) -> str:
    if fmt not in exports.FORMATS:
        raise Http404
    return fmt


@login_required
@require_GET
def export_book(request: AuthedHttpRequest, fmt: str) -> HttpResponseBase:
    if not portfolio_permissions.is_staff(request.user):
        raise Http404
    return exports.respond(exports.book_table(user=request.user), _fmt(fmt))


@login_required
@require_GET
def export_holdings(request: AuthedHttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    household = household_get_for_user(user=request.user, pk=pk)
    return exports.respond(exports.holdings_table(user=request.user, household=household), _fmt(fmt))


@login_required
@require_GET
def export_transactions(request: AuthedHttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    account = portfolio_selectors.account_get_for_user(user=request.user, pk=pk)
    return exports.respond(exports.transactions_table(account=account), _fmt(fmt))


@login_required
@require_GET
def export_performance(request: AuthedHttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    account = portfolio_selectors.account_get_for_user(user=request.user, pk=pk)
    return exports.respond(exports.performance_table(account=account), _fmt(fmt))


@login_required
@require_GET
def export_blotter(request: AuthedHttpRequest, fmt: str) -> HttpResponseBase:
    if not portfolio_permissions.is_staff(request.user):
        raise Http404
    return exports.respond(exports.blotter_table(user=request.user), _fmt(fmt))


@login_required
@require_GET
def export_billing(request: AuthedHttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    if not is_operations_staff(request.user):
        raise Http404
    run = operations_selectors.billing_run_get_for_user(user=request.user, pk=pk)
    table = exports.billing_table(run=run, charges=lambda: operations_selectors.billing_charges(run=run).iterator())
    return exports.respond(table, _fmt(fmt))
