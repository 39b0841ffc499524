"""Compliance pages: the officer's queues (KYC, AML, suitability, orders in review), the audit
trail explorer with its streamed CSV, the household's compliance section, the risk
questionnaire, and the KYC provider's webhook.

Views are thin: a scoped getter, a service or selector, then the page or its named partial.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from accounts.selectors import household_get_for_user
from compliance import audit, permissions, selectors, services
from compliance.adapters.kyc import SIGNATURE_HEADER, TIMESTAMP_HEADER
from compliance.errors import ComplianceError
from compliance.forms import AuditFilterForm, DecisionForm, NoteForm, OrderReviewForm, RiskQuestionnaireForm
from compliance.models import AMLCase, KYCVerification
from kronos.csvfile import CSVWriter
from kronos.typing import AuthedHttpRequest
from trading.services import order_review_decide

KYC_DECISIONS = [("approved", "Approve"), ("rejected", "Reject")]
AML_DECISIONS = [("cleared", "Clear: false positive"), ("confirmed", "Confirm the match (keeps trading frozen)")]
ORDER_DECISIONS = [("approve", "Approve the order"), ("reject", "Reject the order")]


def officer_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    @login_required
    def wrapped(request: AuthedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not permissions.is_compliance_officer(request.user):
            raise PermissionDenied("Compliance officers only.")
        return view(request, *args, **kwargs)

    return wrapped


def _partial(request: AuthedHttpRequest, template: str, name: str) -> str:
    return f"{template}#{name}" if request.htmx else template


@officer_required
def dashboard(request: AuthedHttpRequest) -> HttpResponse:
    user = request.user
    orders = selectors.orders_in_review(user=user)
    counts = {
        "kyc": selectors.kyc_queue(user=user).filter(status=KYCVerification.Status.NEEDS_REVIEW).count(),
        "kyc_pending": selectors.kyc_queue(user=user).filter(status=KYCVerification.Status.PENDING).count(),
        "aml": selectors.aml_case_list(user=user).count(),
        "suitability": selectors.suitability_case_list(user=user).count(),
        "orders": orders.count() if orders is not None else 0,
    }
    return render(request, "compliance/dashboard.html", {"counts": counts})


# --- KYC ---------------------------------------------------------------------------------------


@officer_required
def kyc_queue(request: AuthedHttpRequest) -> HttpResponse:
    items = list(selectors.kyc_queue(user=request.user)[:200])
    return render(
        request,
        _partial(request, "compliance/kyc_queue.html", "kyc-table"),
        {"items": items, "form": DecisionForm(choices=KYC_DECISIONS)},
    )


@officer_required
@require_POST
def kyc_decide(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    verification = selectors.kyc_get_for_officer(user=request.user, pk=pk)
    form = DecisionForm(request.POST, choices=KYC_DECISIONS)
    if form.is_valid():
        try:
            services.kyc_decide(
                verification=verification,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
                acting_user=request.user,
            )
        except ComplianceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"KYC of {verification.investor.full_name}: {form.cleaned_data['decision']}.")
    else:
        messages.error(request, "Choose approve or reject.")
    return redirect("compliance:kyc_queue")


# --- AML ---------------------------------------------------------------------------------------


@officer_required
def aml_queue(request: AuthedHttpRequest) -> HttpResponse:
    status = request.GET.get("status", AMLCase.Status.OPEN)
    if status not in AMLCase.Status.values:
        status = AMLCase.Status.OPEN
    cases = list(selectors.aml_case_list(user=request.user, status=status)[:200])
    return render(
        request,
        _partial(request, "compliance/aml_queue.html", "aml-table"),
        {"cases": cases, "status": status, "statuses": AMLCase.Status.choices},
    )


@officer_required
@require_http_methods(["GET", "POST"])
def aml_case(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    case = selectors.aml_case_get_for_officer(user=request.user, pk=pk)
    form = DecisionForm(request.POST or None, choices=AML_DECISIONS)
    note_form = NoteForm()
    if request.method == "POST":
        if "add_note" in request.POST:
            note_form = NoteForm(request.POST)
            if note_form.is_valid():
                services.case_add_note(case=case, note=note_form.cleaned_data["note"], acting_user=request.user)
                messages.success(request, "Note added.")
                return redirect("compliance:aml_case", pk=case.pk)
        elif form.is_valid():
            try:
                services.aml_case_decide(
                    case=case,
                    decision=form.cleaned_data["decision"],
                    note=form.cleaned_data["note"],
                    acting_user=request.user,
                )
            except ComplianceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Case {case.pk} {form.cleaned_data['decision']}.")
                return redirect("compliance:aml_queue")
    return render(
        request,
        "compliance/aml_case.html",
        {
            "case": case,
            "form": form,
            "note_form": note_form,
            "history": case.history.select_related("history_user")[:20],
        },
    )


# --- Suitability ---------------------------------------------------------------------------------


@officer_required
def suitability_queue(request: AuthedHttpRequest) -> HttpResponse:
    cases = list(selectors.suitability_case_list(user=request.user)[:200])
    return render(request, "compliance/suitability_queue.html", {"cases": cases, "form": NoteForm()})


@officer_required
@require_POST
def suitability_resolve(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    case = selectors.suitability_case_get_for_officer(user=request.user, pk=pk)
    try:
        services.suitability_case_resolve(case=case, note=request.POST.get("note", ""), acting_user=request.user)
    except ComplianceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Suitability case resolved.")
    return redirect("compliance:suitability_queue")


# --- Orders in review ------------------------------------------------------------------------------


def _order_queue_page(
    request: AuthedHttpRequest, *, refused: tuple[int, OrderReviewForm] | None = None, status: int = 200
) -> HttpResponse:
    """The queue; `refused` is a decision that did not validate: its row shows the form's errors."""
    orders = selectors.orders_in_review(user=request.user)
    forms = {}
    if refused is not None:
        forms[refused[0]] = refused[1]
    return render(
        request,
        _partial(request, "compliance/order_queue.html", "order-table"),
        {
            "orders": list(orders[:200]) if orders is not None else [],
            "form": OrderReviewForm(choices=ORDER_DECISIONS),
            "refused_pk": refused[0] if refused else None,
            "refused_form": refused[1] if refused else None,
        },
        status=status,
    )


@officer_required
def order_queue(request: AuthedHttpRequest) -> HttpResponse:
    return _order_queue_page(request)


@officer_required
@require_POST
def order_decide(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    orders = selectors.orders_in_review(user=request.user)
    if orders is None:
        raise Http404("No such order in your review queue.")
    # Not in the officer's queue (another firm's, or not waiting for review): 404, like any
    # object that is not theirs.
    order = get_object_or_404(orders, pk=pk)
    form = OrderReviewForm(request.POST, choices=ORDER_DECISIONS)
    if not form.is_valid():
        # Nothing decided: the queue again, this order's row with what is missing.
        return _order_queue_page(request, refused=(order.pk, form), status=400)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        order_review_decide(order=order, approve=approve, acting_user=request.user, note=form.cleaned_data["note"])
    except Exception as exc:  # noqa: BLE001 -- the trading domain error carries a readable message
        messages.error(request, getattr(exc, "message", str(exc)))
    else:
        messages.success(request, f"Order {order.pk} {'approved' if approve else 'rejected'}.")
    return redirect("compliance:order_queue")


# --- Audit trail -------------------------------------------------------------------------------------


def _audit_filter(request: AuthedHttpRequest) -> tuple[AuditFilterForm, audit.AuditFilter | None]:
    """The filter on screen, read from the query string by the explorer and the export alike;
    None when the form is invalid (the page shows its errors, the export refuses)."""
    form = AuditFilterForm(request.GET or None)
    flt = audit.AuditFilter.for_user(request.user)
    if form.is_bound and not form.is_valid():
        return form, None
    if form.is_bound:
        data = form.cleaned_data
        flt.model = data["model"] or ""
        flt.object_id = (data["object_id"] or "").strip()
        flt.field = (data["field"] or "").strip()
        flt.since, flt.until = data["since"], data["until"]
        if data["user"]:
            user = User.objects.filter(email__iexact=data["user"].strip()).only("id").first()
            flt.user_id = user.pk if user else -1
    return form, flt


def _filter_query(request: AuthedHttpRequest) -> str:
    """The filter's query string, without the page cursor: what the export link carries."""
    query = request.GET.copy()
    query.pop("after", None)
    return query.urlencode()


@officer_required
def audit_explorer(request: AuthedHttpRequest) -> HttpResponse:
    form, flt = _audit_filter(request)
    entries, next_cursor = (
        audit.audit_page(flt=flt, after=request.GET.get("after", ""), size=50) if flt is not None else ([], "")
    )
    return render(
        request,
        _partial(request, "compliance/audit.html", "audit-table"),
        {"form": form, "entries": entries, "next_cursor": next_cursor, "query": _filter_query(request)},
        status=400 if flt is None and not request.htmx else 200,
    )


@officer_required
def audit_csv(request: AuthedHttpRequest) -> HttpResponseBase:
    """Exactly the entries the explorer shows for the same query string (same form, same
    selector), streamed; an invalid filter is refused rather than read as "everything"."""
    form, flt = _audit_filter(request)
    if flt is None:
        errors = "; ".join(f"{name}: {' '.join(str(e) for e in errs)}" for name, errs in form.errors.items())
        return HttpResponse(f"Invalid filter: {errors}\n", status=400, content_type="text/plain; charset=utf-8")
    # Every cell neutralised against formula injection (kronos/csvfile.py).
    rows = CSVWriter().rows(audit.csv_rows(audit.audit_iter(flt=flt)))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kronos-audit-{stamp}.csv"'
    return response


# --- The household's compliance section, KYC start, the questionnaire ------------------------------


@login_required
def household_section(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = household_get_for_user(user=request.user, pk=pk)
    may_start = permissions.may_start_kyc_in(user=request.user, household=household)
    return render(
        request,
        _partial(request, "compliance/household_section.html", "section"),
        {"household": household, "rows": selectors.household_compliance(household=household), "may_start": may_start},
    )


@login_required
@require_POST
def kyc_start(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    investor = selectors.investor_get_for_user(user=request.user, pk=pk)
    household = investor.households.filter(pk=request.POST.get("household")).first() or investor.households.first()
    if household is None or not permissions.may_start_kyc_in(user=request.user, household=household):
        raise PermissionDenied("Only the advisor or a compliance officer starts a verification.")
    try:
        services.kyc_start(investor=investor, acting_user=request.user)
    except ComplianceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Identity verification started for {investor.full_name}.")
    return redirect("accounts:household_detail", pk=household.pk)


@login_required
@require_http_methods(["GET", "POST"])
def risk_questionnaire(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    investor = selectors.investor_get_for_user(user=request.user, pk=pk)
    profile = getattr(investor, "risk_profile", None)
    form = RiskQuestionnaireForm(request.POST or None, initial=profile.answers if profile else None)
    if request.method == "POST" and form.is_valid():
        try:
            profile = services.risk_profile_submit(
                investor=investor, answers=form.cleaned_data, acting_user=request.user
            )
        except ComplianceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Risk profile saved: risk level {profile.risk_level} of 10.")
            return redirect("compliance:risk_questionnaire", pk=investor.pk)
    return render(
        request, "compliance/risk_questionnaire.html", {"investor": investor, "profile": profile, "form": form}
    )


# --- Webhook -------------------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def kyc_webhook(request: HttpRequest) -> HttpResponse:
    """The KYC provider's signed callback; refused with nothing changed when the signature is
    bad, the timestamp stale, or the event already seen."""
    try:
        verification = services.kyc_webhook_receive(
            body=request.body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
        )
    except ComplianceError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return JsonResponse({"status": verification.status if verification else "ignored"})
