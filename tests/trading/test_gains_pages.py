"""The gains pages of an account and a household: what a user sees, the CSV and the PDF."""

import csv
import io
from datetime import date, timedelta

import pytest

from tests.accounts.factories import AdvisorFactory
from tests.trading.factories import account_with, filled_trade, make_security, today

pytestmark = pytest.mark.django_db


OLD = date(2020, 3, 2)


@pytest.fixture
def household_book(alice_household, alice):
    make_security("XYZ", "40")
    joint = account_with(alice_household, cash="10000.00", name="Joint brokerage")
    ira = account_with(alice_household, cash="1000.00", name="Spouse IRA", account_type="traditional_ira")
    filled_trade(joint, "XYZ", "buy", "100", "50", OLD, alice.user)
    filled_trade(ira, "XYZ", "buy", "10", "45", today() - timedelta(days=10), alice.user)
    filled_trade(joint, "XYZ", "sell", "44", "40", today(), alice.user)
    return joint, ira


def test_the_account_page_shows_the_loss_and_the_disallowed_part(verified_client, alice, household_book):
    joint, _ = household_book
    page = verified_client(alice.user).get(f"/accounts/{joint.pk}/gains/?year={today().year}")
    assert page.status_code == 200
    text = page.content.decode()
    # the display rule writes a loss with a minus sign (U+2212)
    assert "Long term: <strong>\u2212$340.00</strong>" in text
    assert "Wash-sale losses disallowed: <strong>$100.00</strong>" in text
    assert "\u2212$440.00" in text


def test_the_household_page_shows_both_accounts_and_the_replacement_basis(verified_client, alice, household_book):
    joint, ira = household_book
    page = verified_client(alice.user).get(f"/households/{joint.household_id}/gains/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Joint brokerage" in text and "Spouse IRA" in text
    assert "$550.00" in text  # the IRA's 10 shares: $450 + $100 disallowed
    assert "held from" in text


def test_the_csv_export_has_the_rows_and_totals(verified_client, alice, household_book):
    joint, _ = household_book
    answer = verified_client(alice.user).get(f"/households/{joint.household_id}/gains/?format=csv")
    assert answer["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode())))
    realised = [r for r in rows if r[0] == "realised"]
    assert realised == [
        ["realised", "Joint brokerage", "XYZ", "44.000000000", OLD.isoformat(), today().isoformat(), "1760.00",
         "2200.00", "-440.00", "long", "100.00"],
    ]  # fmt: skip
    assert ["total", f"realised {today().year} long term", "", "", "", "", "", "", "-340.00"] in rows
    assert len([r for r in rows if r[0] == "unrealised"]) == 2


def test_the_pdf_export_is_a_pdf_with_the_totals(verified_client, alice, household_book):
    from pypdf import PdfReader

    joint, _ = household_book
    answer = verified_client(alice.user).get(f"/accounts/{joint.pk}/gains/?format=pdf")
    assert answer["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    assert "Long term: \u2212$340.00" in text and "disallowed: $100.00" in text


def test_a_bad_year_is_a_form_error_not_a_500(verified_client, alice, household_book):
    joint, _ = household_book
    answer = verified_client(alice.user).get(f"/accounts/{joint.pk}/gains/?year=abc")
    assert answer.status_code == 400 and b"Choose a year" in answer.content


def test_another_firm_gets_404_and_the_investor_sees_their_gains(verified_client, client, charlie, household_book):
    joint, _ = household_book
    stranger = AdvisorFactory()
    assert verified_client(stranger.user).get(f"/accounts/{joint.pk}/gains/").status_code == 404
    assert verified_client(stranger.user).get(f"/households/{joint.household_id}/gains/").status_code == 404
    client.force_login(charlie)
    assert client.get(f"/accounts/{joint.pk}/gains/").status_code == 200


def test_the_order_page_lists_the_lots_and_sells_the_ones_chosen(verified_client, alice, household_book):
    from portfolios.models import TaxLot
    from trading.models import Order

    joint, _ = household_book
    client = verified_client(alice.user)
    old = TaxLot.objects.get(account=joint)
    page = client.get(f"/accounts/{joint.pk}/trading/")
    assert page.status_code == 200 and b"Open tax lots" in page.content and b"Specific lots" in page.content
    body = {"symbol": "XYZ", "side": "sell", "order_type": "market", "quantity": "3", "lot_method": "specific"}
    bad = client.post(f"/accounts/{joint.pk}/orders/new/", {**body, "lots": f"{old.pk}: 2"})
    assert bad.status_code == 400 and "add up to 2, not the order&#x27;s 3 shares" in bad.content.decode()
    for garble in ("twelve", "²: 3"):  # "²" is a digit to str.isdigit(), not to int()
        garbled = client.post(f"/accounts/{joint.pk}/orders/new/", {**body, "lots": garble})
        assert garbled.status_code == 400 and b"Write each lot as number: shares" in garbled.content
    assert not Order.objects.filter(account=joint, status="approved").exists()
    good = client.post(f"/accounts/{joint.pk}/orders/new/", {**body, "lots": f"{old.pk}: 3"})
    assert good.status_code == 302
    order = Order.objects.filter(account=joint).latest("id")
    assert order.lot_selection == {"method": "specific", "lots": [{"id": old.pk, "quantity": "3"}]}


@pytest.mark.usefixtures("uncached")
def test_the_household_gains_page_keeps_a_fixed_query_count(verified_client, alice, alice_household, household_book):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = verified_client(alice.user)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/households/{alice_household.pk}/gains/").status_code == 200
        return len(ctx.captured_queries)

    before = count()
    make_security("QQQ", "10")
    for n in range(3):
        account = account_with(alice_household, cash="1000.00", name=f"More {n}")
        filled_trade(account, "QQQ", "buy", "5", "12", OLD, alice.user)
        filled_trade(account, "QQQ", "sell", "2", "10", today(), alice.user)
    assert count() == before
