"""Realised and unrealised gains of an account or a household (short/long term, by year), on a
page and exported as CSV or PDF (WeasyPrint)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.selectors import household_get_for_user
from kronos.csvfile import CSVWriter
from kronos.typing import AuthedHttpRequest
from portfolios.engine.lots import Term
from portfolios.models import InvestmentAccount
from portfolios.selectors.accounts import account_get_for_user, account_list_for_user
from portfolios.selectors.lots import LotRow, RealisedGains, lot_rows, realised_gains
from portfolios.views.common import _money, _quantity

ZERO = Decimal(0)


class GainsForm(forms.Form):
    year = forms.IntegerField(required=False, min_value=1900, max_value=2100)
    format = forms.ChoiceField(required=False, choices=[("", "page"), ("csv", "CSV"), ("pdf", "PDF")])


@login_required
@require_GET
def account_gains(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    account = account_get_for_user(user=request.user, pk=pk)
    return _gains(request, title=account.name, accounts=[account], slug=f"account-{account.pk}")


@login_required
@require_GET
def household_gains(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    household = household_get_for_user(user=request.user, pk=pk)
    accounts = list(account_list_for_user(user=request.user, household_id=household.pk))
    return _gains(
        request, title=household.name, accounts=accounts, slug=f"household-{household.pk}", household=household
    )


def _gains(
    request: AuthedHttpRequest, *, title: str, accounts: list[InvestmentAccount], slug: str, household: Any = None
) -> HttpResponse:
    form = GainsForm(request.GET)
    today = timezone.localdate()
    if not form.is_valid():
        context = {"form": form, "title": title, "household": household, "accounts": accounts, "invalid": True}
        return render(request, "portfolios/gains.html", context, status=400)
    year = form.cleaned_data.get("year") or today.year
    realised = realised_gains(accounts=accounts, year=year)
    lots = lot_rows(accounts=accounts, as_of=today)
    unrealised = _unrealised_totals(lots)
    kind = form.cleaned_data.get("format")
    if kind == "csv":
        response = HttpResponse(_csv(realised, lots), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="gains-{slug}-{year}.csv"'
        return response
    context = {
        "form": form,
        "title": title,
        "household": household,
        "accounts": accounts,
        "single": household is None,
        "year": year,
        "years": list(range(today.year, today.year - 6, -1)),
        "today": today,
        "realised": [_realised_line(r) for r in realised.rows],
        "short_term": _money(realised.short_term),
        "long_term": _money(realised.long_term),
        "disallowed": _money(realised.wash_sale_disallowed),
        "lots": [_lot_line(r) for r in lots],
        "unrealised_short": _money(unrealised[Term.SHORT]),
        "unrealised_long": _money(unrealised[Term.LONG]),
    }
    if kind == "pdf":
        from weasyprint import HTML  # imported here: loading Pango costs ~100 ms at start-up

        html = render_to_string("portfolios/gains_pdf.html", context)
        response = HttpResponse(HTML(string=html, base_url=None).write_pdf(), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="gains-{slug}-{year}.pdf"'
        return response
    return render(request, "portfolios/gains.html", context)


def _unrealised_totals(lots: list[LotRow]) -> dict[Term, Decimal]:
    totals = {Term.SHORT: ZERO, Term.LONG: ZERO}
    for r in lots:
        if r.unrealized_gain is not None:
            totals[r.term] += r.unrealized_gain
    return totals


def _realised_line(r: Any) -> dict[str, Any]:
    return {
        "account": r.account.name,
        "symbol": r.symbol,
        "quantity": _quantity(r.quantity),
        "acquired_on": r.acquired_on,
        "closed_on": r.closed_on,
        "proceeds": _money(r.proceeds),
        "cost_basis": _money(r.cost_basis),
        "gain": _money(r.gain),
        "loss": r.gain < 0,
        "term": r.term.value,
        "disallowed": _money(r.wash_sale_disallowed) if r.wash_sale_disallowed else "",
    }


def _lot_line(r: LotRow) -> dict[str, Any]:
    return {
        "account": r.account.name,
        "symbol": r.symbol,
        "quantity": _quantity(r.quantity),
        "acquired_on": r.acquired_on,
        "held_from": r.held_from if r.held_from != r.acquired_on else None,
        "cost_basis": _money(r.cost_basis),
        "market_value": _money(r.market_value),
        "gain": _money(r.unrealized_gain),
        "loss": r.unrealized_gain is not None and r.unrealized_gain < 0,
        "term": r.term.value,
        "disallowed": _money(r.wash_sale_disallowed) if r.wash_sale_disallowed else "",
    }


def _csv(realised: RealisedGains, lots: list[LotRow]) -> str:
    """Two sections (realised in the year, unrealised today); amounts as plain decimals; every cell
    neutralised against formula injection (kronos/csvfile.py)."""
    writer = CSVWriter()
    out = [
        writer.row(
            [
                "section", "account", "symbol", "quantity", "acquired_on", "closed_on", "proceeds_or_value",
                "cost_basis", "gain", "term", "wash_sale_disallowed",
            ]
        )
    ]  # fmt: skip
    for r in realised.rows:
        out.append(
            writer.row(
                [
                    "realised", r.account.name, r.symbol, r.quantity, r.acquired_on, r.closed_on, r.proceeds,
                    r.cost_basis, r.gain, r.term.value, r.wash_sale_disallowed,
                ]
            )
        )  # fmt: skip
    for lot in lots:
        out.append(
            writer.row(
                [
                    "unrealised", lot.account.name, lot.symbol, lot.quantity, lot.acquired_on, "",
                    "" if lot.market_value is None else lot.market_value, lot.cost_basis,
                    "" if lot.unrealized_gain is None else lot.unrealized_gain, lot.term.value,
                    lot.wash_sale_disallowed,
                ]
            )
        )  # fmt: skip
    out.append(
        writer.row(["total", f"realised {realised.year} short term", "", "", "", "", "", "", realised.short_term])
    )
    out.append(writer.row(["total", f"realised {realised.year} long term", "", "", "", "", "", "", realised.long_term]))
    return "".join(out)
