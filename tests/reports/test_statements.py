"""A statement's PDF, its page and the API show the same figures for the same date; the PDF is
kept in the household's documents with its as-of date and SHA-256; `statement.ready` is emitted."""

import hashlib
import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from accounts.models import Event
from kronos import formatting
from reports import services
from reports.models import FirmBranding, Statement

pytestmark = pytest.mark.django_db

LABELS = {
    "opening_value": r"Opening value \(\d{4}-\d{2}-\d{2}\)",
    "deposits": "Deposits",
    "withdrawals": "Withdrawals",
    "dividends": "Dividends",
    "fees": "Fees",
    "change_in_value": "Change in market value",
    "closing_value": r"Closing value \(\d{4}-\d{2}-\d{2}\)",
    "realised_gains": "Realised gains",
}


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pdf_figures(text: str) -> dict[str, str]:
    out = {}
    for name, label in LABELS.items():
        match = re.search(rf"^{label}\s+(-?\$[\d,]+\.\d\d)\s*$", text, re.MULTILINE)
        assert match, f"{name} not found in the PDF:\n{text}"
        out[name] = match.group(1)
    return out


def page_figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="(\w+)">([^<]+)<', html))


@pytest.fixture
def ready_statement(statement_account, quarter, alice):
    FirmBranding.objects.create(
        firm=alice.firm, display_name="Alvarez & Partners Wealth", disclosures="Past performance is no guarantee."
    )
    statement = services.statement_request(account=statement_account, period_end=quarter.end, acting_user=alice.user)
    outcome = services.statement_generate(statement_id=statement.pk)
    assert outcome.statement.status == Statement.Status.READY, outcome.statement.error
    return outcome.statement


def test_the_pdf_the_page_and_the_api_show_the_same_figures(ready_statement, verified_client, api, alice, charlie):
    statement = ready_statement
    document = statement.document
    text = pdf_text(bytes(document.content))
    in_pdf = pdf_figures(text)

    page = verified_client(alice.user).get(f"/statements/{statement.pk}/")
    assert page.status_code == 200
    on_page = page_figures(page.content.decode())

    body = api(charlie).get(f"/api/v1/accounts/{statement.account_id}/statements/{statement.pk}/").json()
    from_api = {
        k: formatting.money(Decimal(v["amount"]), v["currency"]) for k, v in body["figures"].items() if k in LABELS
    }

    expected = {
        "opening_value": "$3,499.00",
        "deposits": "$1,000.01",
        "withdrawals": "$200.00",
        "dividends": "$12.34",
        "fees": "$7.89",
        "change_in_value": "$130.00",
        "closing_value": "$4,433.46",
        "realised_gains": "$30.00",
    }
    assert in_pdf == expected
    assert {k: on_page[k] for k in expected} == expected
    assert from_api == expected
    # Holdings with cost basis, the branding and the disclosures are in the PDF too.
    assert re.search(r"AAA Alpha Equity 8 \$110\.00 \$880\.00 \$720\.00 \$160\.00", text)
    assert "Alvarez & Partners Wealth" in text
    assert "Past performance is no guarantee." in text


def test_the_pdf_is_kept_in_the_households_documents_with_its_as_of_and_hash(ready_statement, quarter):
    document = ready_statement.document
    assert document.household_id == ready_statement.household_id
    assert document.kind == "statement"
    assert document.as_of == quarter.end == ready_statement.as_of
    assert document.sha256 == hashlib.sha256(bytes(document.content)).hexdigest() == ready_statement.sha256
    assert bytes(document.content).startswith(b"%PDF-")


def test_statement_ready_is_emitted_once_with_the_pdfs_address(ready_statement):
    events = Event.objects.filter(kind="statement.ready", subject_type="statement")
    assert events.count() == 1
    event = events.get()
    assert event.account_id == ready_statement.account_id
    assert event.payload["url"] == (
        f"/api/v1/accounts/{ready_statement.account_id}/statements/{ready_statement.pk}/pdf/"
    )
    services.statement_generate(statement_id=ready_statement.pk)  # again: nothing changes twice
    assert Event.objects.filter(kind="statement.ready", subject_type="statement").count() == 1


def test_the_performance_report_pdf_has_the_allocation_chart_and_the_households_values(
    statement_account, quarter, alice, verified_client
):
    report = services.report_request(
        household=statement_account.household, period_end=quarter.end, acting_user=alice.user
    )
    report = services.statement_generate(statement_id=report.pk).statement
    assert report.status == Statement.Status.READY, report.error
    text = pdf_text(bytes(report.document.content))
    assert "Performance report" in text
    assert re.search(r"Household \$3,499\.00 \$1,000\.01 \$200\.00 \$4,433\.46", text)
    assert "Allocation at" in text and "Cash" in text
    page = verified_client(alice.user).get(f"/statements/{report.pk}/").content.decode()
    assert "<svg" in page and 'aria-label="Allocation"' in page
    assert "$4,433.46" in page
