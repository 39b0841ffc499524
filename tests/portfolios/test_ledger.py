import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger import PostingSpec
from portfolios.models import CashBalance, JournalEntry, LedgerBook, Position, Posting

pytestmark = pytest.mark.django_db


def deposit(account, amount, user, key=None):
    return ledger.post_entry(
        kind=JournalEntry.Kind.DEPOSIT,
        postings=[
            PostingSpec.cash(ledger.client_book(account), Decimal(amount)),
            PostingSpec.cash(ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK), -Decimal(amount)),
        ],
        effective_date=date.today(),
        acting_user=user,
        idempotency_key=key,
    )


def test_a_deposit_moves_the_cash_balance_and_keeps_the_books_consistent(account, alice):
    deposit(account, "250.10", alice.user)
    deposit(account, "49.90", alice.user)
    assert CashBalance.objects.get(account=account).amount == Decimal("300.00")
    assert ledger.verify() == []


def test_the_balance_history_names_the_acting_user(account, alice):
    deposit(account, "10.00", alice.user)
    balance = CashBalance.objects.get(account=account)
    assert balance.history.first().history_user == alice.user
    assert JournalEntry.objects.get().history.first().history_user == alice.user


def test_a_retry_with_the_same_key_returns_the_first_entry_and_posts_nothing(account, alice):
    first = deposit(account, "100.00", alice.user, key="dep-1")
    again = deposit(account, "100.00", alice.user, key="dep-1")
    assert again.pk == first.pk
    assert Posting.objects.count() == 2
    assert CashBalance.objects.get(account=account).amount == Decimal("100.00")


def test_an_unbalanced_entry_is_refused(account, alice):
    with pytest.raises(PortfoliosError, match="does not balance"):
        ledger.post_entry(
            kind="deposit",
            postings=[
                PostingSpec.cash(ledger.client_book(account), Decimal("100.00")),
                PostingSpec.cash(ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK), Decimal("-99.99")),
            ],
            effective_date=date.today(),
            acting_user=alice.user,
        )
    assert not JournalEntry.objects.exists()


def test_cash_with_more_than_two_places_and_zero_postings_are_refused(account, alice):
    book, bank = ledger.client_book(account), ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK)
    with pytest.raises(PortfoliosError, match="decimal places"):
        ledger.post_entry(
            kind="deposit",
            postings=[PostingSpec.cash(book, Decimal("1.005")), PostingSpec.cash(bank, Decimal("-1.005"))],
            effective_date=date.today(),
            acting_user=alice.user,
        )
    with pytest.raises(PortfoliosError, match="zero"):
        ledger.post_entry(
            kind="deposit",
            postings=[PostingSpec.cash(book, Decimal("0")), PostingSpec.cash(bank, Decimal("0"))],
            effective_date=date.today(),
            acting_user=alice.user,
        )


def test_a_withdrawal_beyond_the_cash_is_refused_and_changes_nothing(account, alice):
    deposit(account, "100.00", alice.user)
    with pytest.raises(PortfoliosError, match="Not enough cash"):
        deposit(account, "-100.01", alice.user)
    assert CashBalance.objects.get(account=account).amount == Decimal("100.00")
    assert JournalEntry.objects.count() == 1


def test_a_credit_to_a_short_balance_is_taken_and_a_further_debit_refused(account, alice):
    """A balance already below zero (a buy filled above its reservation) takes money coming in;
    only debits are refused."""
    book, bank = ledger.client_book(account), ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK)
    ledger.post_entry(
        kind="trade",
        postings=[PostingSpec.cash(book, Decimal("-116.00")), PostingSpec.cash(bank, Decimal("116.00"))],
        effective_date=date.today(),
        acting_user=alice.user,
        allow_negative=True,
    )
    deposit(account, "100.00", alice.user)
    assert CashBalance.objects.get(account=account).amount == Decimal("-16.00")
    with pytest.raises(PortfoliosError, match="Not enough cash"):
        deposit(account, "-0.01", alice.user)
    assert CashBalance.objects.get(account=account).amount == Decimal("-16.00")
    assert ledger.verify() == []


def test_selling_more_shares_than_held_is_refused_unless_allowed(funded, securities, alice):
    book, market = ledger.client_book(funded), ledger.system_book(LedgerBook.Kind.MARKET)
    aapl = securities["AAPL"]
    sell = [PostingSpec.shares(book, aapl, Decimal("-11")), PostingSpec.shares(market, aapl, Decimal("11"))]
    with pytest.raises(PortfoliosError, match="Not enough AAPL"):
        ledger.post_entry(kind="trade", postings=sell, effective_date=date.today(), acting_user=alice.user)
    ledger.post_entry(
        kind="trade", postings=sell, effective_date=date.today(), acting_user=alice.user, allow_negative=True
    )
    assert Position.objects.get(account=funded, security=aapl).quantity == Decimal("-1")
    assert ledger.verify() == []


def test_a_buy_fill_moves_shares_and_cash_together(funded, securities, alice):
    book = ledger.client_book(funded)
    bnd = securities["BND"]
    ledger.post_entry(
        kind="trade",
        postings=[
            PostingSpec.shares(book, bnd, Decimal("2.5"), price=Decimal("70")),
            PostingSpec.shares(ledger.system_book(LedgerBook.Kind.MARKET), bnd, Decimal("-2.5")),
            PostingSpec.cash(book, Decimal("-175.00")),
            PostingSpec.cash(ledger.system_book(LedgerBook.Kind.CUSTODIAN_CLEARING), Decimal("175.00")),
        ],
        effective_date=date.today(),
        acting_user=alice.user,
    )
    assert Position.objects.get(account=funded, security=bnd).quantity == Decimal("102.5")
    assert CashBalance.objects.get(account=funded).amount == Decimal("825.00")


@pytest.mark.unbalanced_ledger
def test_verify_reports_a_balance_that_differs_from_its_postings(funded, securities):
    Position.objects.filter(account=funded, security=securities["AAPL"]).update(quantity=Decimal("9"))
    CashBalance.objects.filter(account=funded).update(amount=Decimal("1.00"))
    problems = ledger.verify()
    assert any("AAPL: position 9" in p and "sum to 10" in p for p in problems)
    assert any("cash USD: balance 1.00" in p for p in problems)


@pytest.mark.unbalanced_ledger
def test_verify_reports_an_unbalanced_entry(funded, securities):
    posting = Posting.objects.filter(security=securities["BND"], quantity__gt=0).first()
    Posting.objects.filter(pk=posting.pk).update(quantity=Decimal("99"))
    assert any("BND postings sum to -1" in p for p in ledger.verify())


@pytest.mark.unbalanced_ledger
def test_check_ledger_command_fails_with_the_differences(funded, securities):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("check_ledger")
    CashBalance.objects.filter(account=funded).update(amount=Decimal("1.00"))
    with pytest.raises(CommandError, match="1 difference"):
        call_command("check_ledger")


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_post_once(account, alice):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    ledger.client_book(account)
    ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK)
    errors = []

    def worker():
        try:
            deposit(account, "10.00", alice.user, key="same")
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert JournalEntry.objects.count() == 1
    assert CashBalance.objects.get(account=account).amount == Decimal("10.00")
