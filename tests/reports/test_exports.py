"""Exports as CSV (streamed) and XLSX (openpyxl write-only): their content, and the same scoping
as their pages (another advisor's or firm's rows are never in them; their objects are 404)."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from accounts.services import system_user
from operations.models import BillingRun, FeeCharge, FeeSchedule
from tests.portfolios.factories import InvestmentAccountFactory
from trading.models import Order

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[list[str]]:
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def read_xlsx(response) -> list[tuple]:
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return list(book.active.iter_rows(values_only=True))


@pytest.fixture
def bobs_account(bob_household):
    return InvestmentAccountFactory(household=bob_household, name="Bennett trust", custodian_account_number="KR-9001")


def test_the_book_export_is_the_advisors_book_only(statement_account, bobs_account, alice, verified_client):
    client = verified_client(alice.user)
    rows = read_csv(client.get("/exports/book.csv"))
    assert rows[0] == ["account_id", "household", "account", "total_value", "max_drift", "breached"]
    assert [r[:3] for r in rows[1:]] == [[str(statement_account.pk), "Alvarez Household", "Joint brokerage"]]
    sheet = read_xlsx(client.get("/exports/book.xlsx"))
    assert sheet[0][:3] == ("account_id", "household", "account")
    assert sheet[1][:3] == (statement_account.pk, "Alvarez Household", "Joint brokerage")
    # The value is a number in the sheet, the book page's figure (today's prices).
    assert isinstance(sheet[1][3], (int, float))


def test_investors_have_no_book_or_blotter_export(charlie, verified_client):
    client = verified_client(charlie)
    assert client.get("/exports/book.csv").status_code == 404
    assert client.get("/exports/blotter.xlsx").status_code == 404


def test_holdings_export_lists_each_accounts_positions_and_cash(
    statement_account, alice, charlie, bob, verified_client
):
    url = f"/households/{statement_account.household_id}/exports/holdings.csv"
    rows = read_csv(verified_client(charlie).get(url))
    assert rows[0][:6] == ["account_number", "account", "symbol", "name", "asset_class", "quantity"]
    held = {(r[0], r[2]): r[5] for r in rows[1:]}
    # Today's holdings (the 5.00 deposited after the quarter is cash like any other).
    assert held == {("KR-7001", "AAA"): "8.000000000", ("KR-7001", "BBB"): "20.000000000", ("KR-7001", "CASH"): ""}
    cash = next(r for r in rows[1:] if r[2] == "CASH")
    assert cash[7] == "2518.46"
    assert verified_client(bob.user).get(url).status_code == 404


def test_transactions_export_has_every_posting_of_the_account(statement_account, bob, alice, verified_client):
    url = f"/accounts/{statement_account.pk}/exports/transactions.xlsx"
    sheet = read_xlsx(verified_client(alice.user).get(url))
    assert sheet[0] == ("date", "entry", "type", "description", "asset", "quantity", "price")
    deposits = [r for r in sheet[1:] if r[2] == "Deposit"]
    assert sorted(Decimal(str(r[5])) for r in deposits) == [
        Decimal("0.01"),
        Decimal("5"),
        Decimal("999"),
        Decimal("1000"),
    ]
    assert verified_client(bob.user).get(url).status_code == 404


def test_performance_export_has_the_pages_periods(statement_account, alice, verified_client):
    rows = read_csv(verified_client(alice.user).get(f"/accounts/{statement_account.pk}/exports/performance.csv"))
    assert rows[0] == [
        "period", "start", "end", "twr", "annualized_twr", "twr_gross", "mwr", "benchmark", "benchmark_twr",
    ]  # fmt: skip
    assert [r[0] for r in rows[1:]] == ["1M", "3M", "YTD", "1Y", "Since inception"]
    assert {r[7] for r in rows[1:]} == {"SPY"}
    # The same returns as the account's performance API over the same dates (net, gross, money-weighted).
    row = next(r for r in rows[1:] if r[0] == "Since inception")
    api = (
        verified_client(alice.user)
        .get(f"/api/v1/accounts/{statement_account.pk}/performance/?start={row[1]}&end={row[2]}")
        .json()
    )
    assert [row[3], row[5], row[6]] == [str(api["twr_net"] or ""), str(api["twr_gross"] or ""), str(api["mwr"] or "")]


def _order(account, security, key):
    return Order.objects.create(
        account=account,
        security=security,
        side="buy",
        order_type="market",
        quantity=Decimal("3"),
        estimated_price=Decimal("110"),
        status="filled",
        source="advisor",
        client_order_id=key,
        created_by=system_user(),
    )


def test_the_blotter_export_holds_only_the_users_accounts_orders(
    statement_account, bobs_account, securities, alice, ops, verified_client
):
    mine = _order(statement_account, securities["AAA"], "c-1")
    _order(bobs_account, securities["AAA"], "c-2")
    rows = read_csv(verified_client(alice.user).get("/exports/blotter.csv"))
    assert [r[0] for r in rows[1:]] == [str(mine.pk)]
    assert rows[1][3:7] == ["AAA", "buy", "market", "3.000000000"]
    assert len(read_xlsx(verified_client(ops).get("/exports/blotter.xlsx"))) == 3  # the firm's: both


def test_the_billing_export_is_operations_and_their_firms(statement_account, alice, ops, verified_client):
    schedule = FeeSchedule.objects.create(firm=alice.firm, name="Standard 1%", flat_bps=Decimal("100"))
    run = BillingRun.objects.create(
        firm=alice.firm, period_start=date(2026, 1, 1), period_end=date(2026, 3, 31), created_by=system_user()
    )
    FeeCharge.objects.create(
        billing_run=run,
        account=statement_account,
        period_start=run.period_start,
        schedule=schedule,
        basis_kind="average_daily_balance",
        basis_amount=Decimal("100000.00"),
        annual_fee=Decimal("1000"),
        effective_bps=Decimal("100"),
        days_billed=90,
        days_in_period=90,
        days_in_year=365,
        amount=Decimal("246.58"),
    )
    sheet = read_xlsx(verified_client(ops).get(f"/ops/billing/{run.pk}/export.xlsx"))
    assert sheet[1][0] == "KR-7001" and Decimal(str(sheet[1][10])) == Decimal("246.58")
    assert verified_client(alice.user).get(f"/ops/billing/{run.pk}/export.csv").status_code == 404


def test_a_formula_in_a_name_is_text_in_both_formats(alice, alice_household, verified_client):
    InvestmentAccountFactory(household=alice_household, name='=HYPERLINK("http://evil","x")')
    client = verified_client(alice.user)
    rows = read_csv(client.get("/exports/book.csv"))
    assert rows[1][2] == '\'=HYPERLINK("http://evil","x")'
    sheet = read_xlsx(client.get("/exports/book.xlsx"))
    assert sheet[1][2] == '\'=HYPERLINK("http://evil","x")'


def test_an_unknown_format_is_a_404(alice, verified_client):
    assert verified_client(alice.user).get("/exports/book.pdf").status_code == 404


def test_the_pages_link_their_exports(statement_account, alice, verified_client):
    client = verified_client(alice.user)
    assert 'href="/exports/book.xlsx"' in client.get("/book/").content.decode()
    account_page = client.get(f"/accounts/{statement_account.pk}/").content.decode()
    assert f'href="/accounts/{statement_account.pk}/exports/transactions.csv"' in account_page
    assert f'href="/accounts/{statement_account.pk}/statements/"' in account_page
