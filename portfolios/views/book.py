"""The advisor's book: every account of the user's scope, searched, filtered and sorted."""

from __future__ import annotations

from typing import Any, TypedDict

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.models import Role, User
from kronos import readcache
from kronos.html import escaped
from kronos.typing import AuthedHttpRequest
from portfolios import permissions
from portfolios.forms import (
    BookFilterForm,
)
from portfolios.models import InvestmentAccount
from portfolios.selectors.accounts import model_names_for_user
from portfolios.selectors.pages import BookRow, book_page_for_user
from portfolios.views.common import (
    BOOK_PAGE_SIZE,
    _money,
    _percent,
)

# --- The book -------------------------------------------------------------------------------------


class BookLine(TypedDict):
    """A line of the book's table. A dict: the template's lookups (`line.pk`) try an item before
    an attribute, and a page renders 50 lines of eleven."""

    pk: int
    household: str
    household_url: str
    name: str
    account_url: str
    account_type: str
    number: str
    value: str
    model: str
    max_drift: str
    breached: bool


_TYPES = dict(InvestmentAccount.AccountType.choices)

#: A line of the book's table. Its cells are written here, not by the template: fifty lines of
#: eleven values were two thirds of a computed book page's rendering (Django's template engine
#: costs about 80 microseconds a line, `format_html` about 10). Every value is escaped.
_LINE = (
    '<tr{} data-account="{}">{}'
    '<td><a href="{}">{}</a></td>'
    '<td><a href="{}">{}</a><br><span class="muted">{}</span></td>'
    "<td>{}</td>"
    '<td class="num">{}</td>'
    "<td>{}</td>"
    '<td class="num">{}</td>'
    "</tr>\n"
)
_BREACHED_ROW = SafeString(' class="row-breach"')
_NO_CLASS = SafeString("")
_SELECT = '<td><input type="checkbox" name="account" value="{}" form="rebalance-selection" aria-label="Select {}"></td>'
_BREACHED_DRIFT = (
    '<span class="breach" title="Outside its band">{} ⚠</span> <span class="badge badge-breach">Breach</span>'
)


def book_rows_html(lines: list[BookLine], *, selects: bool) -> SafeString:
    """The table's rows for `lines` (`selects`: each with its checkbox, for advisors). What
    `format_html_join` over `_LINE` gives, every value escaped, in a third of its time (each of
    its escapes goes through Django's lazy-string check: 600 of them a page)."""
    out = []
    for line in lines:
        pk = line["pk"]
        name = escaped(line["name"])
        drift = escaped(line["max_drift"])
        out.append(
            _LINE.format(
                _BREACHED_ROW if line["breached"] else _NO_CLASS,
                pk,
                _SELECT.format(pk, name) if selects else _NO_CLASS,
                escaped(line["household_url"]),
                escaped(line["household"]),
                escaped(line["account_url"]),
                name,
                escaped(line["number"]),
                escaped(line["account_type"]),
                escaped(line["value"]),
                escaped(line["model"]),
                _BREACHED_DRIFT.format(drift) if line["breached"] else drift,
            )
        )
    # Safe: the line templates are constants and every value in them went through `escaped`
    # (tests/portfolios/test_book_rows_html.py: the same HTML as format_html_join, hostile values).
    return SafeString("".join(out))  # nosec B703


def _book_page(user: User, filters: dict[str, Any], page_number: str | None) -> tuple[Any, list[BookLine], int, int]:
    """The book's page of lines with the totals over all its rows: what the book page caches."""
    book = book_page_for_user(user=user, page=page_number, size=BOOK_PAGE_SIZE, **filters)
    # Paginator over the count alone: the page's rows are read already.
    page: Page[BookRow] = Page(book.rows, book.number, Paginator(range(book.total), BOOK_PAGE_SIZE))  # type: ignore[arg-type]
    # Each line's links from one reverse each (a page is 50 lines of two links).
    household_url = reverse("accounts:household_detail", args=[0]).removesuffix("0/")
    account_url = reverse("portfolios:account_detail", args=[0]).removesuffix("0/")
    lines = [
        BookLine(
            pk=row.pk,
            household=row.household,
            household_url=f"{household_url}{row.household_id}/",
            name=row.name,
            account_url=f"{account_url}{row.pk}/",
            account_type=_TYPES.get(row.account_type, row.account_type),
            number=row.number or "opening",
            value=_money(row.total_value, row.currency),
            model=row.model if row.model is not None else "—",
            max_drift=_percent(row.max_drift),
            breached=row.breached,
        )
        for row in book.rows
    ]
    return page, lines, book.total, book.breached


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
    models = readcache.remember(request, "book-models", lambda: model_names_for_user(user=request.user))
    form = BookFilterForm(request.GET or None, models=models)
    filters = form.filters()

    def render_table() -> str:
        page, lines, total, breached_count = _book_page(request.user, filters, request.GET.get("page"))
        selects = Role.ADVISOR in request.user.roles  # advisors select accounts to rebalance
        context = {
            "form": form,
            "page": page,
            "rows": book_rows_html(lines, selects=selects),
            "total": total,
            "breached_count": breached_count,
            "selects": selects,
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
