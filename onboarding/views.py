"""Onboarding pages: the advisor creates a household, adds investors and opens accounts, and
follows each step; the investor accepts the invitation, reviews their data and signs.

Views are thin: a scoped getter (404 for anyone else), a form, a service, a page or the
named partial on an HTMX request.
"""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from rest_framework.exceptions import PermissionDenied as ApiDenied
from rest_framework.exceptions import ValidationError as ApiInvalid

from accounts import services as account_services
from accounts.api import household_creator_advisor
from accounts.errors import AccountsError
from accounts.models import Household, Investor
from accounts.selectors import (
    household_get_for_user,
    household_may_edit,
    investor_get_for_user,
    investor_may_edit,
    may_see_tax_id,
)
from compliance.models import RiskProfile
from kronos.typing import AuthedHttpRequest
from onboarding import permissions, selectors, services
from onboarding.errors import OnboardingError
from onboarding.forms import AccountOpenForm, BeneficiaryFormSet, HouseholdCreateForm, InvestorForm, SignForm
from onboarding.models import AgreementKind, AgreementTemplate
from portfolios import services as portfolio_services
from portfolios.errors import PortfoliosError
from portfolios.models import InvestmentAccount


def _editable_household(request: AuthedHttpRequest, pk: int) -> Household:
    household = household_get_for_user(user=request.user, pk=pk)
    if not household_may_edit(user=request.user, household=household):
        raise Http404
    return household


def _form_error(form, exc) -> None:  # type: ignore[no-untyped-def]
    """Put a service's field errors on the form (unknown fields as non-field errors)."""
    errors = exc.errors or {exc.field or "__all__": [exc.message]}
    for field, messages_ in errors.items():
        target = field if field in form.fields else None
        for message in messages_:
            form.add_error(
                target,
                message
                if target
                else f"{field.replace('_', ' ')}: {message}"
                if field not in ("__all__", "non_field_errors")
                else message,
            )


@login_required
@require_http_methods(["GET", "POST"])
def household_new(request: AuthedHttpRequest) -> HttpResponse:
    """An advisor creates a household they advise; operations create one for an advisor of their firm."""
    if not permissions.may_create_household(request.user):
        raise PermissionDenied("Only advisors and operations staff create households.")
    form = HouseholdCreateForm(
        request.POST or None,
        firm_id=request.user.firm_id,
        choose_advisor=permissions.creates_households_for_advisors(request.user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            advisor = household_creator_advisor(request.user, data["advisor"].pk if data.get("advisor") else None)
            household = account_services.household_create(
                firm=advisor.firm, name=data["name"], advisor=advisor, acting_user=request.user, notes=data["notes"]
            )
        except (ApiDenied, ApiInvalid) as exc:
            form.add_error(None, str(exc.detail))
        except AccountsError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Household {household.name} created. Add its investors next.")
            return redirect("onboarding:household", pk=household.pk)
    return render(request, "onboarding/household_new.html", {"form": form})


@login_required
@require_safe
def household_onboarding(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The household's onboarding: each step, the investors, accounts and documents."""
    household = household_get_for_user(user=request.user, pk=pk)
    onboarding = selectors.onboarding_for(household)
    context = {
        "household": household,
        "onboarding": onboarding,
        "may_edit": household_may_edit(user=request.user, household=household),
        "investors": [m.investor for m in household.members.select_related("investor").order_by("id")],
        "accounts": household.investment_accounts.order_by("id"),
        "documents": selectors.document_list_for_user(user=request.user, household=household),
        "polling": any(s.status == selectors.WAITING and s.key in ("kyc", "account") for s in onboarding.steps),
    }
    if request.htmx:
        return render(request, "onboarding/household.html#steps", context)
    return render(request, "onboarding/household.html", context)


@login_required
@require_safe
def household_section(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The onboarding summary the household page loads."""
    household = household_get_for_user(user=request.user, pk=pk)
    onboarding = selectors.onboarding_for(household)
    return render(
        request,
        "onboarding/household.html#section",
        {"household": household, "onboarding": onboarding, "polling": False},
    )


@login_required
@require_http_methods(["GET", "POST"])
def investor_new(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    form = InvestorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            investor = account_services.investor_onboard(
                household=household, acting_user=request.user, **form.cleaned_data
            )
        except AccountsError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{investor.full_name} added.")
            return redirect("onboarding:household", pk=household.pk)
    return render(request, "onboarding/investor_form.html", {"household": household, "form": form, "investor": None})


@login_required
@require_http_methods(["GET", "POST"])
def investor_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """An investor's identification data: the taxpayer id in clear for the investor themself and
    compliance, masked for everyone else; their advisor or operations may edit it."""
    investor = investor_get_for_user(user=request.user, pk=pk)
    may_edit = investor_may_edit(user=request.user, investor=investor)
    form = None
    if may_edit:
        initial = {f: getattr(investor, f) for f in InvestorForm.base_fields if f != "tax_id"}
        form = InvestorForm(request.POST or None, initial=initial)
        form.fields["tax_id"].required = False
        form.fields["tax_id"].help_text = f"On file: {investor.tax_id_masked or 'none'}. Leave empty to keep it."
        if request.method == "POST" and form.is_valid():
            try:
                account_services.investor_update(investor=investor, acting_user=request.user, **form.cleaned_data)
            except AccountsError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, "Investor saved.")
                return redirect("onboarding:investor", pk=investor.pk)
    elif request.method == "POST":
        raise Http404
    tax_id = investor.tax_id_plain() if may_see_tax_id(user=request.user, investor=investor) else investor.tax_id_masked
    households = investor.households.all()
    return render(
        request,
        "onboarding/investor_detail.html",
        {"investor": investor, "form": form, "tax_id": tax_id, "households": households},
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_new(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    form = AccountOpenForm(request.POST or None, household=household)
    formset = BeneficiaryFormSet(request.POST or None, prefix="beneficiaries")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        owners = list(Investor.objects.filter(pk__in=[int(i) for i in form.cleaned_data["owners"]]).order_by("id"))
        beneficiaries = [
            portfolio_services.BeneficiarySpec(
                name=f["name"],
                relationship=f["relationship"],
                share_percent=Decimal(f["share_percent"]),
                kind=f["kind"] or "primary",
            )
            for f in formset.cleaned_data
            if f.get("name")
        ]
        try:
            account = portfolio_services.account_create(
                household=household,
                name=form.cleaned_data["name"],
                account_type=form.cleaned_data["account_type"],
                owners=owners,
                beneficiaries=beneficiaries,
                acting_user=request.user,
            )
        except PortfoliosError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{account.name} will be opened at the custodian once its owners are cleared.")
            return redirect("onboarding:household", pk=household.pk)
    return render(request, "onboarding/account_form.html", {"household": household, "form": form, "formset": formset})


@login_required
@require_POST
def household_submit(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    try:
        result = services.onboarding_submit(
            household=household, acting_user=request.user, base_url=request.build_absolute_uri("/")
        )
    except OnboardingError as exc:
        for messages_ in (exc.errors or {"": [exc.message]}).values():
            for message in messages_:
                messages.error(request, message)
    else:
        parts = []
        if result.screened:
            parts.append(f"KYC and AML screening started for {', '.join(result.screened)}")
        if result.invited:
            parts.append(f"invitations sent to {', '.join(result.invited)}")
        if result.requested:
            parts.append(f"the custodian asked to open {', '.join(result.requested)}")
        messages.success(
            request, ("Submitted: " + "; ".join(parts) + ".") if parts else "Submitted: nothing new to start."
        )
        for problem in result.problems:
            messages.error(request, problem)
    return redirect("onboarding:household", pk=household.pk)


# --- The investor's side -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The invitation link: set a password once; an expired or used link says so."""
    user = account_services.invitation_user(uidb64, token)
    if user is None:
        return render(request, "onboarding/invitation_invalid.html", status=404)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.invitation_accept(user=user, password=form.cleaned_data["new_password1"])
        except AccountsError as exc:
            form.add_error("new_password1", exc.message)
        else:
            login(request, user, backend="kronos.auth.CachedModelBackend")
            messages.success(request, "Your password is set. Review your details and sign your agreements.")
            return redirect("onboarding:mine")
    return render(request, "onboarding/invitation_accept.html", {"form": form, "invited": user})


@login_required
@require_safe
def my_onboarding(request: AuthedHttpRequest) -> HttpResponse:
    """The investor's own page: their data to review, the questionnaire, the documents to sign."""
    investor = selectors.investor_self(request.user)
    if investor is None:
        raise Http404
    rows = []
    for household in investor.households.select_related("firm", "advisor__user").order_by("name"):
        rows.append(
            {
                "household": household,
                "agreements": services.agreements_for(household=household, investor=investor),
                "documents": selectors.document_list_for_user(user=request.user, household=household),
                "accounts": household.investment_accounts.order_by("id"),
            }
        )
    profile = RiskProfile.objects.filter(investor=investor).first()
    return render(
        request,
        "onboarding/mine.html",
        {"investor": investor, "rows": rows, "profile": profile, "tax_id": investor.tax_id_plain()},
    )


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@login_required
@require_http_methods(["GET", "POST"])
def agreement_sign(request: AuthedHttpRequest, pk: int, kind: str) -> HttpResponse:
    """The investor reads the active version of a document and signs it by typing their name."""
    investor = selectors.investor_self(request.user)
    household = household_get_for_user(user=request.user, pk=pk)
    if investor is None or kind not in AgreementKind.values or not household.members.filter(investor=investor).exists():
        raise Http404
    template = AgreementTemplate.objects.filter(firm_id=household.firm_id, kind=kind, is_active=True).first()
    if template is None:
        raise Http404
    form = SignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.agreement_sign(
                household=household,
                investor=investor,
                template=template,
                signer=request.user,
                signed_name=form.cleaned_data["signed_name"],
                ip_address=_client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
        except OnboardingError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Signed: {template.title}. A copy is in your documents.")
            return redirect("onboarding:mine")
    paragraphs = [p.strip() for p in template.body.split("\n\n") if p.strip()]
    return render(
        request,
        "onboarding/sign.html",
        {"household": household, "template": template, "paragraphs": paragraphs, "form": form, "investor": investor},
    )


@login_required
@require_safe
def document_download(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    document = selectors.document_get_for_user(user=request.user, pk=pk)
    response = HttpResponse(bytes(document.content), content_type=document.content_type)
    response["Content-Disposition"] = f'inline; filename="{document.filename}"'
    return response


__all__ = ["InvestmentAccount"]
