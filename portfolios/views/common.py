"""Shared by the portfolios pages: display formatting, partials, and the scoped getters of the
write pages."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.safestring import SafeString, mark_safe

from accounts.models import User
from kronos import formatting
from kronos.errors import DomainError
from kronos.typing import AuthedHttpRequest
from portfolios import permissions
from portfolios.models import InvestmentAccount
from portfolios.selectors.accounts import account_get_for_user

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


def _svg(markup: str) -> SafeString:
    # Charts escape every label they draw (portfolios.charts uses html.escape); the markup is ours.
    return mark_safe(markup)  # noqa: S308  # nosec B308 B703 -- chart markup escaped by portfolios.charts


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


def _require_advisor(user: User) -> None:
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
