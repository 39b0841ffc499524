"""The firm-wide trade blotter: every order in the user's scope, filtered, on a page or as CSV."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kronos.csvfile import CSVWriter
from kronos.typing import AuthedHttpRequest
from trading import permissions, selectors
from trading.forms import BlotterFilterForm
from trading.models import Order

PAGE_SIZE = 100
CSV_HEADER = (
    "placed_at",
    "order_id",
    "client_order_id",
    "household",
    "account",
    "advisor",
    "side",
    "symbol",
    "quantity",
    "amount",
    "status",
    "filled_quantity",
    "average_price",
    "filled_amount",
    "block_order",
    "source",
)


def _csv_rows(orders: Iterable[Order]) -> Iterator[list[Any]]:
    yield list(CSV_HEADER)
    for o in orders:
        yield [
            timezone.localtime(o.created_at).isoformat(timespec="seconds"),
            o.pk,
            o.client_order_id,
            o.account.household.name,
            o.account.custodian_account_number or o.account.name,
            o.account.household.advisor.user.get_full_name(),
            o.side,
            o.security.symbol,
            "" if o.quantity is None else f"{o.quantity.normalize():f}",
            "" if o.amount is None else f"{o.amount:.2f}",
            o.status,
            f"{o.filled_quantity.normalize():f}",
            "" if o.average_price is None else f"{o.average_price.normalize():f}",
            f"{o.filled_amount:.2f}",
            o.block_id or "",
            o.source,
        ]


@login_required
@require_GET
def blotter(request: AuthedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The blotter page (`?export=csv` for the CSV of every matching order). An advisor sees the
    orders of their households, compliance and operations their firm's; others get 404."""
    if permissions.blotter_orders_q(request.user) is None:
        raise Http404
    form = BlotterFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    orders = selectors.blotter_orders(user=request.user, filters=filters)
    if form.is_bound and not form.is_valid():
        orders = orders.none()
    if request.GET.get("export") == "csv":
        # Every cell neutralised against formula injection (kronos/csvfile.py).
        rows = CSVWriter().rows(_csv_rows(orders.iterator(chunk_size=2000)))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="kronos-blotter-{stamp}.csv"'
        return response
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("export", None)
    return render(
        request,
        "trading/blotter.html",
        {"form": form, "page": page, "orders": page.object_list, "query": query.urlencode()},
    )
