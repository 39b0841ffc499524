"""Exports as CSV or XLSX: each is a `Table` (headers and an iterator of rows) read through the
same scoped selectors as its page, written one of two ways:

- CSV, streamed (`StreamingHttpResponse`), every cell neutralised against formula injection
  (`kronos.csvfile`), decimals as plain strings (`-12.50`), dates ISO;
- XLSX, an openpyxl write-only workbook (rows written as they are read, constant memory) spooled
  to a temporary file and streamed from it; text cells neutralised the same way (a string
  starting with `=` would otherwise be stored as a formula), decimals as numbers.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from accounts.models import Household, User
from kronos.csvfile import CSVWriter, neutralise
from operations.models import BillingRun
from portfolios import selectors as portfolio_selectors
from portfolios.models import InvestmentAccount, JournalEntry
from trading import selectors as trading_selectors

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")
#: The book's values are rounded to cents (half-even) here, as the book page shows them.
CENT = Decimal("0.01")


@dataclass
class Table:
    name: str  # the file's base name and the sheet's title
    headers: Sequence[str]
    rows: Iterable[Sequence[Any]]


def _csv_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, (Decimal, int, float, date)) or value is None:
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return neutralise(value)


def csv_response(table: Table) -> StreamingHttpResponse:
    writer = CSVWriter()

    def lines() -> Iterator[str]:
        yield writer.row(table.headers)
        for row in table.rows:
            yield writer.row(_csv_cell(v) for v in row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table.name}.csv"'
    return response


def xlsx_response(table: Table) -> FileResponse:
    from openpyxl import Workbook  # imported here: only exports need it

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=table.name[:31])
    sheet.append(list(table.headers))
    for row in table.rows:
        sheet.append([_xlsx_cell(v) for v in row])
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115  # closed by the response
    workbook.save(spool)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=f"{table.name}.xlsx", content_type=XLSX_TYPE)


def respond(table: Table, fmt: str) -> StreamingHttpResponse | FileResponse:
    return xlsx_response(table) if fmt == "xlsx" else csv_response(table)


# --- The tables ------------------------------------------------------------------------------


def book_table(*, user: User) -> Table:
    """The book page's rows: every open account the user's book holds, with value and drift."""
    rows = portfolio_selectors.book_for_user(user=user)
    return Table(
        "book",
        ["account_id", "household", "account", "total_value", "max_drift", "breached"],
        (
            (r.pk, r.household, r.name, r.total_value.quantize(CENT, ROUND_HALF_EVEN), r.max_drift, r.breached)
            for r in rows
        ),
    )


def holdings_table(*, user: User, household: Household) -> Table:
    """A household's holdings, account by account (the accounts the user sees in it)."""
    accounts = list(portfolio_selectors.account_list_for_user(user=user, household_id=household.pk))

    def rows() -> Iterator[Sequence[Any]]:
        for account in accounts:
            holdings = portfolio_selectors.account_positions(account)
            for p in holdings.positions:
                yield (
                    account.custodian_account_number,
                    account.name,
                    p.symbol,
                    p.name,
                    p.asset_class,
                    p.quantity,
                    p.price,
                    p.market_value,
                    p.cost_basis,
                    p.unrealised_gain,
                    p.weight,
                )
            yield (
                account.custodian_account_number,
                account.name,
                "CASH",
                "Cash",
                "cash",
                None,
                None,
                holdings.cash,
                None,
                None,
                holdings.cash_weight,
            )

    return Table(
        f"holdings-{household.pk}",
        [
            "account_number",
            "account",
            "symbol",
            "name",
            "asset_class",
            "quantity",
            "price",
            "market_value",
            "cost_basis",
            "unrealised_gain",
            "weight",
        ],
        rows(),
    )


def transactions_table(*, account: InvestmentAccount) -> Table:
    """An account's journal, newest first: one line per posting of the account."""
    labels = dict(JournalEntry.Kind.choices)

    def rows() -> Iterator[Sequence[Any]]:
        for entry in trading_selectors.account_transactions(account=account).iterator(chunk_size=500):
            for p in entry.account_postings:  # type: ignore[attr-defined]
                yield (
                    entry.effective_date,
                    entry.pk,
                    labels.get(entry.kind, entry.kind),
                    entry.memo,
                    p.security.symbol if p.security else p.currency,
                    p.quantity,
                    p.price,
                )

    return Table(
        f"transactions-{account.custodian_account_number or account.pk}",
        ["date", "entry", "type", "description", "asset", "quantity", "price"],
        rows(),
    )


def performance_table(*, account: InvestmentAccount) -> Table:
    """An account's returns by period against the benchmark (the account page's table)."""
    spec = portfolio_selectors.benchmark_for_account(account)
    periods = portfolio_selectors.performance_periods(account, benchmark=spec)
    return Table(
        f"performance-{account.custodian_account_number or account.pk}",
        ["period", "start", "end", "twr", "annualized_twr", "twr_gross", "mwr", "benchmark", "benchmark_twr"],
        (
            (p.label, p.start, p.end, p.twr, p.annualized_twr, p.twr_gross, p.mwr, spec.description, p.benchmark_twr)
            for p in periods
        ),
    )


def blotter_table(*, user: User) -> Table:
    """The trade blotter: every order of the accounts the user may see, newest first."""
    qs = trading_selectors.order_list_for_user(user=user)
    return Table(
        "blotter",
        [
            "order_id",
            "created_at",
            "account_number",
            "symbol",
            "side",
            "order_type",
            "quantity",
            "amount",
            "limit_price",
            "status",
            "status_reason",
            "filled_quantity",
            "average_price",
            "source",
            "client_order_id",
        ],
        (
            (
                o.pk,
                o.created_at,
                o.account.custodian_account_number,
                o.security.symbol,
                o.side,
                o.order_type,
                o.quantity,
                o.amount,
                o.limit_price,
                o.status,
                o.status_reason,
                o.filled_quantity,
                o.average_price,
                o.source,
                o.client_order_id,
            )
            for o in qs.iterator(chunk_size=1000)
        ),
    )


def billing_table(*, run: BillingRun, charges: Callable[[], Iterable[Any]]) -> Table:
    """A billing run's fees, one line per account, with the figures of each calculation."""
    return Table(
        f"billing-{run.firm_id}-{run.period_start:%Y%m%d}",
        [
            "account_number",
            "household",
            "schedule",
            "basis_kind",
            "basis_amount",
            "effective_bps",
            "annual_fee",
            "days_billed",
            "days_in_period",
            "days_in_year",
            "amount",
            "currency",
            "status",
            "error",
        ],
        (
            (
                c.account.custodian_account_number,
                c.account.household.name,
                c.schedule.name,
                c.basis_kind,
                c.basis_amount,
                c.effective_bps,
                c.annual_fee,
                c.days_billed,
                c.days_in_period,
                c.days_in_year,
                c.amount,
                c.currency,
                c.status,
                c.error,
            )
            for c in charges()
        ),
    )
