"""Each account's kept figures (`AccountFigures`): every write that moves a figure moves the row in
its own transaction, and the pages read the row — the book, the accounts API — never a stale one."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolios import ledger, services
from portfolios.errors import PortfoliosError
from portfolios.figures import figures_stale, refresh_all
from portfolios.ledger import PostingSpec
from portfolios.models import AccountFigures, JournalEntry, LedgerBook, Price
from tests.portfolios.factories import InvestmentAccountFactory

# compliance tests its own model-assignment hook; these tests assign models freely
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_suitability_hook")]


def kept(account):
    return AccountFigures.objects.get(account=account)


def withdraw(account, amount, user):
    return ledger.post_entry(
        kind=JournalEntry.Kind.WITHDRAWAL,
        postings=[
            PostingSpec.cash(ledger.client_book(account), -Decimal(amount)),
            PostingSpec.cash(ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK), Decimal(amount)),
        ],
        effective_date=date.today(),
        acting_user=user,
    )


def test_a_transfer_in_keeps_value_cash_and_drift_on_the_accounts_row(modelled):
    row = kept(modelled)
    # 10 AAPL at 150 + 100 BND at 70 = 8,500 in securities; 1,000.00 cash.
    assert (row.market_value, row.cash, row.total_value) == (Decimal("8500"), Decimal("1000.00"), Decimal("9500"))
    # AAPL is 1,500 / 9,500 = 15.789...% against 60%: 44.21 points, a breach.
    assert row.max_drift.quantize(Decimal("0.0001")) == Decimal("0.4421") and row.breached
    assert figures_stale() == []


def test_the_last_cent_of_cash_leaves_the_row_and_a_refused_withdrawal_leaves_it_as_it_was(funded, alice):
    withdraw(funded, "999.99", alice.user)
    assert kept(funded).cash == Decimal("0.01")
    with pytest.raises(PortfoliosError):
        withdraw(funded, "0.02", alice.user)
    assert kept(funded).cash == Decimal("0.01")  # nothing half-written: the row moved with nothing
    withdraw(funded, "0.01", alice.user)
    assert kept(funded).cash == Decimal("0.00") and kept(funded).market_value == Decimal("8500")
    assert figures_stale() == []


def test_a_new_close_moves_the_holders_rows_by_import_and_by_a_single_save(funded, securities):
    services.prices_store(rows=[{"symbol": "AAPL", "date": date.today(), "close": "151.25"}])
    assert kept(funded).market_value == Decimal("8512.5")  # 10 x 151.25 + 100 x 70
    Price.objects.filter(security=securities["BND"], date=date.today()).update(close=Decimal("71"))  # a raw write
    assert figures_stale() == [funded.pk]  # a write around the services is caught by the check ...
    refresh_all()  # ... and healed by the nightly valuation's refresh
    assert kept(funded).market_value == Decimal("8612.5") and figures_stale() == []


def test_a_model_change_moves_drift_and_a_band_at_its_edge_is_not_a_breach(modelled, model_60_40, alice):
    services.model_portfolio_update(
        model=model_60_40,
        targets={"AAPL": Decimal("0.157895"), "BND": Decimal("0.736842")},
        cash_target=Decimal("0.105263"),
        acting_user=alice.user,
    )
    row = kept(modelled)
    assert row.max_drift < Decimal("0.00001") and not row.breached
    services.account_update(account=modelled, drift_threshold=Decimal("0.000001"), acting_user=alice.user)
    assert figures_stale() == []
    services.model_assign(account=modelled, model=None, acting_user=alice.user)
    assert kept(modelled).max_drift is None and not kept(modelled).breached


def test_an_account_without_a_row_is_computed_by_the_book_and_the_api(verified_client, api, alice, modelled):
    AccountFigures.objects.filter(account=modelled).delete()
    assert "$9,500.00" in verified_client(alice.user).get("/book/").text
    body = api(alice.user).get(f"/api/v1/accounts/{modelled.pk}/").json()
    assert body["market_value"]["amount"] == "9500.00" and body["cash"]["amount"] == "1000.00"
    assert body["max_drift"].startswith("0.4421")


def test_the_book_reads_one_row_per_account_whatever_their_number(verified_client, alice, alice_household, securities):
    client = verified_client(alice.user)

    def add(n):
        for _ in range(n):
            account = InvestmentAccountFactory(household=alice_household)
            services.transfer_in(
                account=account,
                positions=[{"symbol": "AAPL", "quantity": Decimal("1"), "cost_basis": Decimal("100")}],
                cash=Decimal("1.00"),
                acting_user=alice.user,
                idempotency_key=f"book-{account.pk}",
            )

    add(2)
    client.get("/book/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/book/?sort=value").status_code == 200
    add(20)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/book/?sort=value").status_code == 200
    assert len(many) == len(few)
    sums = [q["sql"] for q in many.captured_queries if "portfolios_position" in q["sql"]]
    assert sums == []  # the book sums no positions: it reads the kept rows
    assert client.get("/book/?sort=value").text.count("$151.00") == 22
