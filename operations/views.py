"""Operations pages: job runs, reconciliation breaks, fee billing (operations role, firm-scoped)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kronos import formatting
from kronos.csvfile import CSVWriter
from kronos.typing import AuthedHttpRequest
from operations import selectors, services
from operations.errors import OperationsError
from operations.forms import BillingPreviewForm, BreakFilterForm, BreakResolveForm
from operations.invoices import invoice_pdf
from operations.models import BillingRun, FeeCharge, FeeSchedule, ReconciliationBreak
from operations.permissions import is_operations_staff
from operations.services.nightly import NIGHTLY


def operations_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Operations staff of a firm (or a superuser); anyone else gets a 404."""

    @login_required
    @wraps(view)
    def wrapped(request: AuthedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_operations_staff(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


@operations_required
@require_GET
def dashboard(request: AuthedHttpRequest) -> HttpResponse:
    runs = list(selectors.job_run_list()[:15])
    open_breaks = selectors.break_list_for_user(user=request.user, status=ReconciliationBreak.Status.OPEN).count()
    billing = list(selectors.billing_run_list_for_user(user=request.user)[:4])
    return render(
        request,
        "operations/dashboard.html",
        {"runs": runs, "open_breaks": open_breaks, "billing_runs": billing, "nightly": NIGHTLY},
    )


@operations_required
@require_POST
def nightly_run_now(request: AuthedHttpRequest) -> HttpResponse:
    """The dashboard's "Run now": queue tonight's chain for today (once; see the service)."""
    result = services.nightly_run_now(acting_user=request.user)
    (messages.success if result.queued else messages.info)(request, result.message)
    return redirect("operations:dashboard")


@operations_required
@require_GET
def job_list(request: AuthedHttpRequest) -> HttpResponse:
    job = request.GET.get("job", "")
    page = Paginator(selectors.job_run_list(job=job), 50).get_page(request.GET.get("page"))
    template = "operations/job_list.html"
    if request.htmx:
        template += "#job-table"
    return render(request, template, {"page": page, "runs": page.object_list, "job": job})


@operations_required
@require_GET
def job_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    run = selectors.job_run_get(pk=pk)
    errors = selectors.job_run_errors_for_user(user=request.user, run=run)
    template = "operations/job_detail.html"
    if request.htmx:
        template += "#job-summary"
    return render(request, template, {"run": run, "errors": errors[:200], "error_count": len(errors)})


@operations_required
@require_GET
def break_list(request: AuthedHttpRequest) -> HttpResponse:
    form = BreakFilterForm(request.GET or {"status": "open"})
    status = form.cleaned_data["status"] if form.is_valid() else "open"
    qs = selectors.break_list_for_user(user=request.user, status=status)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    template = "operations/break_list.html"
    if request.htmx:
        template += "#break-table"
    return render(
        request,
        template,
        {"form": form, "page": page, "breaks": page.object_list, "resolve_form": BreakResolveForm()},
    )


@operations_required
@require_http_methods(["GET", "POST"])
def break_resolve(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    brk = selectors.break_get_for_user(user=request.user, pk=pk)
    form = BreakResolveForm(request.POST or None, initial={"adjust": True})
    if request.method == "POST" and form.is_valid():
        try:
            brk = services.break_resolve(
                brk=brk, note=form.cleaned_data["note"], adjust=form.cleaned_data["adjust"], acting_user=request.user
            )
        except OperationsError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if request.htmx:
                return render(request, "operations/break_list.html#break-row", {"b": brk})
            messages.success(request, f"Break on {brk.asset} resolved.")
            return redirect("operations:break_list")
    template = "operations/break_resolve.html"
    if request.htmx:
        template += "#resolve-form"
    return render(request, template, {"b": brk, "form": form}, status=400 if form.errors else 200)


@operations_required
@require_http_methods(["GET", "POST"])
def billing_list(request: AuthedHttpRequest) -> HttpResponse:
    form = BillingPreviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        firm = request.user.firm
        if firm is None:
            raise Http404
        try:
            run = services.billing_run_preview(
                firm=firm,
                period_start=form.cleaned_data["period_start"],
                cycle=form.cleaned_data["cycle"] or FeeSchedule.Cycle.QUARTERLY,
                acting_user=request.user,
            )
        except OperationsError as exc:
            form.add_error("period_start", exc.message)
        else:
            return redirect("operations:billing_detail", pk=run.pk)
    runs = selectors.billing_run_list_for_user(user=request.user)
    return render(
        request, "operations/billing_list.html", {"form": form, "runs": runs}, status=400 if form.errors else 200
    )


@operations_required
@require_GET
def billing_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    run = selectors.billing_run_get_for_user(user=request.user, pk=pk)
    page = Paginator(selectors.billing_charges(run=run), 100).get_page(request.GET.get("page"))
    template = "operations/billing_detail.html"
    if request.htmx:
        template += "#charge-table"
    households = selectors.billing_run_households(run=run) if not request.htmx else []
    return render(request, template, {"run": run, "page": page, "charges": page.object_list, "households": households})


@operations_required
@require_GET
def billing_invoice(request: AuthedHttpRequest, pk: int, household_pk: int) -> HttpResponse:
    """A household's invoice for the run, as a PDF (404 for a household without a fee in it)."""
    run = selectors.billing_run_get_for_user(user=request.user, pk=pk)
    invoice = selectors.billing_invoice(run=run, household_id=household_pk)
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="invoice-{run.period_label}-{household_pk}.pdf"'
    return response


@operations_required
@require_POST
def billing_approve(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    run = selectors.billing_run_get_for_user(user=request.user, pk=pk)
    try:
        run = services.billing_run_approve(run=run, acting_user=request.user)
    except OperationsError as exc:
        messages.error(request, exc.message)
    else:
        failed = run.charges.filter(status=FeeCharge.Status.FAILED).count()
        messages.success(
            request,
            f"Billing approved: {formatting.money(run.total)} debited"
            + (f", {failed} not debited." if failed else "."),
        )
    return redirect("operations:billing_detail", pk=run.pk)


@operations_required
@require_GET
def billing_file(request: AuthedHttpRequest, pk: int) -> StreamingHttpResponse:
    """The custodian's fee file (CSV), streamed: one line per debited charge."""
    run = selectors.billing_run_get_for_user(user=request.user, pk=pk)
    if run.status != BillingRun.Status.APPROVED:
        raise Http404("The billing file exists once the run is approved.")
    writer = CSVWriter()  # every cell neutralised against formula injection (kronos/csvfile.py)
    period = run.period_label

    def rows() -> Iterator[str]:
        # The account debited (the fee-paying account when another pays) and the period paid for.
        yield writer.row(["custodian_account_number", "amount", "currency", "period", "period_start", "period_end"])
        charges = (
            run.charges.filter(status=FeeCharge.Status.DEBITED, amount__gt=0)
            .order_by("account__custodian_account_number", "period_start")
            .values_list(
                "account__custodian_account_number",
                "paid_from__custodian_account_number",
                "amount",
                "currency",
                "period_start",
                "period_end",
            )
        )
        for number, payer, amount, currency, start, end in charges.iterator(chunk_size=2000):
            label = (
                period if start == run.period_start else BillingRun(cycle=run.cycle, period_start=start).period_label
            )
            yield writer.row([payer or number, f"{amount:.2f}", currency, label, start, end or run.period_end])

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="fees-{run.firm.slug}-{period}.csv"'
    return response
