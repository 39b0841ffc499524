"""Login, the second factor, and the household pages.

Views are thin: a user-scoped selector or a service, then a full page or, on an HTMX
request, the named partial of the same template.
"""

from collections.abc import Iterable

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.errors import AccountsError
from accounts.forms import HouseholdFilterForm, HouseholdForm, LoginForm, TokenForm
from accounts.permissions import home_pages, household_may_edit
from accounts.selectors.households import HouseholdRow, household_get_for_user, household_page_for_user
from accounts.services.firms import household_update
from kronos import readcache
from kronos.html import escaped
from kronos.typing import AuthedHttpRequest


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True


@login_required
def home(request: AuthedHttpRequest) -> HttpResponse:
    """Send each role to its first page."""
    return redirect(_first_existing(*home_pages(request.user)))


def _first_existing(*names: str) -> str:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return "/"


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: AuthedHttpRequest) -> HttpResponse:
    """Verify a TOTP code; a user with no confirmed device first enrols one by QR code."""
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first() or TOTPDevice.objects.create(
            user=user, name="Authenticator app", confirmed=False
        )
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("accounts:home_root")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("accounts:home_root")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            form.add_error("token", "Too many wrong codes in a row: wait a few seconds, then enter the current code.")
        elif device.verify_token(form.cleaned_data["token"]):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return redirect(next_url)
        else:
            form.add_error("token", "That code is not valid. Codes change every 30 seconds; try the current one.")
    qr_svg = ""
    if enrolling:
        image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
        qr_svg = image.to_string(encoding="unicode")
    return render(
        request,
        "accounts/two_factor.html",
        {
            "form": form,
            "enrolling": enrolling,
            "qr_svg": qr_svg,
            "next": next_url,
            "secret_url": device.config_url if enrolling else "",
        },
    )


#: A row of the households table, its cells written here, not by the template (as the book's).
_HOUSEHOLD_LINE = (
    '<tr><td><a href="{}{}/">{}</a></td><td>{}</td><td>{}</td><td><span class="badge badge-{}">{}</span></td></tr>\n'
)


def household_rows_html(rows: Iterable[HouseholdRow], household_url: str) -> SafeString:
    """The households table's rows, every value escaped (`kronos.html.escaped`)."""
    out = [
        _HOUSEHOLD_LINE.format(
            escaped(household_url),
            row.pk,
            escaped(row.name),
            ", ".join(escaped(m.full_name) for m in row.members),
            escaped(row.advisor_name),
            escaped(row.status),
            escaped(row.status_label),
        )
        for row in rows
    ]
    # Safe: the line is a constant and every value in it went through `escaped`
    # (tests/accounts/test_household_rows_html.py: the template's HTML, hostile values).
    return SafeString("".join(out))  # nosec B703


@login_required
@require_safe
@readcache.cached_page
@vary_on_headers("HX-Request")
def household_list(request: AuthedHttpRequest) -> HttpResponse:
    form = HouseholdFilterForm(request.GET or None)
    search = form.cleaned_data["q"] if form.is_valid() else ""

    def render_table() -> str:
        page = household_page_for_user(user=request.user, page=request.GET.get("page"), size=25, search=search)
        # Each row's link from one reverse (a page is 25 rows).
        household_url = reverse("accounts:household_detail", args=[0]).removesuffix("0/")
        context = {"form": form, "page": page, "rows": household_rows_html(page.object_list, household_url)}
        return render_to_string("accounts/household_list.html#household-table", context, request)

    # The table (no form, no CSRF token) is kept rendered in the read cache until the data changes.
    table = readcache.remember(request, "household-table", render_table)
    if request.htmx:
        return HttpResponse(table)
    return render(request, "accounts/household_list.html", {"form": form, "household_table": table})


@login_required
def household_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = household_get_for_user(user=request.user, pk=pk)
    may_edit = household_may_edit(user=request.user, household=household)
    return render(request, "accounts/household_detail.html", {"household": household, "may_edit": may_edit})


@login_required
@require_http_methods(["GET", "POST"])
def household_edit(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = household_get_for_user(user=request.user, pk=pk)
    if not household_may_edit(user=request.user, household=household):
        raise Http404
    initial = {"name": household.name, "status": household.status, "notes": household.notes}
    form = HouseholdForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            household_update(household=household, acting_user=request.user, **form.cleaned_data)
        except AccountsError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Household saved.")
            return redirect("accounts:household_detail", pk=household.pk)
    return render(request, "accounts/household_edit.html", {"household": household, "form": form})
