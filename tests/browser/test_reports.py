"""In headless Chromium: the investor opens their quarterly statement from the portal once it is
ready (the `statement.ready` event written); the advisor exports the book as XLSX."""

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect
from pypdf import PdfReader

from accounts.models import Event
from reports import services
from tests.reports.conftest import quarter, securities, statement_account  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_investor_opens_their_statement_from_the_portal(login, charlie, alice, statement_account, quarter):  # noqa: F811
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    services.statement_generate(statement_id=statement.pk)
    assert Event.objects.filter(kind="statement.ready", subject_id=statement.pk).exists()

    page = login(charlie)
    page.click("nav >> text=Statements")
    page.wait_for_url("**/statements/")
    row = page.locator(f"tr[data-statement='{statement.pk}']")
    expect(row).to_contain_text(quarter.end.isoformat())
    expect(row).to_contain_text("Ready")
    with page.expect_response(lambda r: r.url.endswith(f"/statements/{statement.pk}/pdf/")) as opened:
        row.locator("a.open-pdf").click()
    response = opened.value
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    # Chromium shows it in its viewer; the bytes are read again in the investor's session.
    content = page.request.get(response.url).body()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert "Quarterly statement" in text
    assert re.search(r"^Closing value \(\S+\)\s+\$4,433\.46$", text, re.MULTILINE)

    page.goto("/statements/")
    page.click(f"tr[data-statement='{statement.pk}'] >> text=View")
    expect(page.locator("[data-figure=closing_value]")).to_have_text("$4,433.46")


def test_the_advisor_exports_the_book_as_xlsx(login, alice, statement_account):  # noqa: F811
    page = login(alice.user)
    page.goto("/book/")
    with page.expect_download() as download:
        page.click("#export-book-xlsx")
    assert download.value.suggested_filename == "book.xlsx"
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("account_id", "household", "account", "total_value", "max_drift", "breached")
    assert rows[1][:3] == (statement_account.pk, "Alvarez Household", "Joint brokerage")
    # Today's value: 8 AAA at 110, 20 BBB at 52 and $2,518.46 cash (the quarter's, plus $5.00 after it).
    assert Decimal(str(rows[1][3])) == Decimal("4438.46")


def test_the_investor_follows_the_notification(login, charlie, alice, statement_account, quarter):  # noqa: F811
    """The investor is told, follows the notification, sees the figures and opens the PDF."""
    from accounts.services import events_publish

    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    services.statement_generate(statement_id=statement.pk)
    while events_publish():  # the relay, as beat runs it
        pass

    page = login(charlie)
    expect(page.locator("#nav-inbox [data-unread]")).to_have_text("1")
    page.click("#nav-inbox")
    page.wait_for_url("**/notifications/")
    row = page.locator("#inbox tbody tr").first
    expect(row).to_contain_text("Your statement is ready: Joint brokerage")
    expect(row).to_contain_text(f"For the period ending {quarter.end.isoformat()}.")
    row.locator("a").first.click()
    page.wait_for_url(f"**/statements/{statement.pk}/")
    expect(page.locator("[data-figure=closing_value]")).to_have_text("$4,433.46")
    with page.expect_response(lambda r: r.url.endswith(f"/statements/{statement.pk}/pdf/")) as opened:
        page.click("text=Open PDF")
    assert opened.value.status == 200 and opened.value.headers["content-type"] == "application/pdf"
