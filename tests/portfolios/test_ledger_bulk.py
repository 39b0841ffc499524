"""ledger.post_entries_bulk: the rules of post_entry, for many entries in a fixed number of queries."""

from datetime import date
from decimal import Decimal

import pytest

from portfolios import ledger
from portfolios.errors import PortfoliosError
from portfolios.ledger import EntrySpec, PostingSpec
from portfolios.models import CashBalance, JournalEntry, LedgerBook, Position, Posting
from tests.portfolios.factories import InvestmentAccountFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 31)


def cash_entry(account, amount, *, key=None, kind=JournalEntry.Kind.DEPOSIT):
    bank = ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK)
    return EntrySpec(
        kind=kind,
        postings=[
            PostingSpec.cash(ledger.client_book(account), Decimal(amount)),
            PostingSpec.cash(bank, -Decimal(amount)),
        ],
        effective_date=DAY,
        memo=f"{kind} {amount}",
        idempotency_key=key,
    )


def accounts(household, n):
    return [InvestmentAccountFactory(household=household) for _ in range(n)]


def cash(account):
    return CashBalance.objects.get(account=account).amount


def test_it_posts_many_entries_and_keeps_the_books_consistent(alice_household, alice):
    book = accounts(alice_household, 3)
    specs = [cash_entry(a, "100.00", key=f"d:{a.pk}") for a in book]
    specs += [cash_entry(a, "-30.25", key=f"f:{a.pk}", kind=JournalEntry.Kind.FEE) for a in book]

    posted = ledger.post_entries_bulk(specs, acting_user=alice.user)

    assert [p.created for p in posted] == [True] * 6
    assert JournalEntry.objects.count() == 6
    assert Posting.objects.count() == 12
    assert [cash(a) for a in book] == [Decimal("69.75")] * 3
    assert ledger.verify() == []
    entry = posted[3].entry
    assert entry.kind == "fee" and entry.idempotency_key == f"f:{book[0].pk}" and entry.created_by == alice.user


def test_the_history_rows_name_the_acting_user(alice_household, alice):
    (account,) = accounts(alice_household, 1)
    ledger.post_entries_bulk([cash_entry(account, "10.00")], acting_user=alice.user)
    balance = CashBalance.objects.get(account=account)
    assert balance.history.latest().history_user == alice.user
    assert JournalEntry.history.latest().history_user == alice.user
    assert Posting.history.count() == 2


def test_a_retry_with_the_same_keys_returns_the_first_entries_and_posts_nothing(alice_household, alice):
    book = accounts(alice_household, 2)
    specs = [cash_entry(a, "50.00", key=f"d:{a.pk}") for a in book]
    first = ledger.post_entries_bulk(specs, acting_user=alice.user)
    again = ledger.post_entries_bulk(specs, acting_user=alice.user)

    assert [p.created for p in again] == [False, False]
    assert [p.entry.pk for p in again] == [p.entry.pk for p in first]
    assert JournalEntry.objects.count() == 2
    assert [cash(a) for a in book] == [Decimal("50.00")] * 2
    assert ledger.verify() == []


def test_a_key_posted_by_post_entry_or_repeated_in_the_call_posts_once(alice_household, alice):
    (account,) = accounts(alice_household, 1)
    spec = cash_entry(account, "20.00", key="once")
    earlier = ledger.post_entry(
        kind=spec.kind,
        postings=spec.postings,
        effective_date=DAY,
        acting_user=alice.user,
        idempotency_key="once",
    )
    posted = ledger.post_entries_bulk(
        [spec, spec, cash_entry(account, "1.00", key="twice")] * 2, acting_user=alice.user
    )
    assert posted[0].entry == earlier and not posted[0].created
    assert posted[2].entry == posted[5].entry
    assert JournalEntry.objects.count() == 2
    assert cash(account) == Decimal("21.00")


def test_an_unbalanced_or_badly_placed_entry_refuses_the_whole_call(alice_household, alice):
    (account,) = accounts(alice_household, 1)
    client, bank = ledger.client_book(account), ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK)
    unbalanced = EntrySpec(
        kind="deposit",
        postings=[PostingSpec.cash(client, Decimal("10.00")), PostingSpec.cash(bank, Decimal("-9.99"))],
        effective_date=DAY,
    )
    with pytest.raises(PortfoliosError, match="does not balance"):
        ledger.post_entries_bulk([cash_entry(account, "5.00"), unbalanced], acting_user=alice.user)
    three_places = cash_entry(account, "1.005")
    with pytest.raises(PortfoliosError, match="decimal places"):
        ledger.post_entries_bulk([three_places], acting_user=alice.user)
    assert not JournalEntry.objects.exists()
    assert not CashBalance.objects.exists()


def test_entries_apply_in_order_and_a_balance_below_zero_is_refused(alice_household, alice):
    (account,) = accounts(alice_household, 1)
    withdraw = cash_entry(account, "-80.00", kind=JournalEntry.Kind.WITHDRAWAL)
    with pytest.raises(PortfoliosError, match="Not enough cash"):
        ledger.post_entries_bulk([withdraw, cash_entry(account, "100.00")], acting_user=alice.user)
    assert not JournalEntry.objects.exists()

    ledger.post_entries_bulk([cash_entry(account, "100.00"), withdraw], acting_user=alice.user)
    assert cash(account) == Decimal("20.00")
    ledger.post_entries_bulk([withdraw], acting_user=alice.user, allow_negative=True)
    assert cash(account) == Decimal("-60.00")
    ledger.post_entries_bulk([cash_entry(account, "50.00")], acting_user=alice.user)  # a credit to a short balance
    assert cash(account) == Decimal("-10.00")
    assert ledger.verify() == []


def test_with_skip_refused_the_refused_entries_are_reported_and_the_others_posted(alice_household, alice):
    rich, poor = accounts(alice_household, 2)
    ledger.post_entries_bulk([cash_entry(rich, "100.00")], acting_user=alice.user)
    fees = [
        cash_entry(rich, "-40.00", key="fee:rich", kind="fee"),
        cash_entry(poor, "-40.00", key="fee:poor", kind="fee"),
    ]
    posted = ledger.post_entries_bulk(fees, acting_user=alice.user, skip_refused=True)
    assert posted[0].created and posted[0].entry is not None
    assert posted[1].entry is None and "Not enough cash" in posted[1].error
    assert cash(rich) == Decimal("60.00")
    assert not CashBalance.objects.filter(account=poor).exists()
    assert not JournalEntry.objects.filter(idempotency_key="fee:poor").exists()
    assert ledger.verify() == []


def test_shares_move_and_new_positions_are_created(funded, securities, alice):
    book, market = ledger.client_book(funded), ledger.system_book(LedgerBook.Kind.MARKET)
    clearing = ledger.system_book(LedgerBook.Kind.CUSTODIAN_CLEARING)
    buy_vxus = EntrySpec(
        kind="trade",
        postings=[
            PostingSpec.shares(book, securities["VXUS"], Decimal("5"), price=Decimal("60")),
            PostingSpec.shares(market, securities["VXUS"], Decimal("-5")),
            PostingSpec.cash(book, Decimal("-300.00")),
            PostingSpec.cash(clearing, Decimal("300.00")),
        ],
        effective_date=DAY,
    )
    sell_aapl = EntrySpec(
        kind="trade",
        postings=[
            PostingSpec.shares(book, securities["AAPL"], Decimal("-11")),
            PostingSpec.shares(market, securities["AAPL"], Decimal("11")),
        ],
        effective_date=DAY,
    )
    with pytest.raises(PortfoliosError, match="Not enough AAPL"):
        ledger.post_entries_bulk([buy_vxus, sell_aapl], acting_user=alice.user)
    ledger.post_entries_bulk([buy_vxus], acting_user=alice.user)
    assert Position.objects.get(account=funded, security=securities["VXUS"]).quantity == Decimal("5")
    assert CashBalance.objects.get(account=funded).amount == Decimal("700.00")
    assert ledger.verify() == []


@pytest.mark.parametrize("n", [3, 60])
def test_the_query_count_does_not_grow_with_the_entries(alice_household, alice, n, django_assert_max_num_queries):
    book = accounts(alice_household, n)
    ledger.post_entries_bulk([cash_entry(a, "100.00") for a in book], acting_user=alice.user)  # rows exist
    specs = [cash_entry(a, "-1.00", key=f"fee:{a.pk}", kind="fee") for a in book]  # books cached on accounts
    with django_assert_max_num_queries(16):
        posted = ledger.post_entries_bulk(specs, acting_user=alice.user)
    assert all(p.created for p in posted)
    assert ledger.verify() == []


def _ledger_rows(account_ids):
    """Entries, postings, cash balances and all their history rows touching `account_ids`, without
    ids and times; accounts (and their books) by position in `account_ids`."""
    order = {a: n for n, a in enumerate(account_ids)}
    books = {
        b.pk: f"account {order[b.account_id]}" if b.account_id in order else b.code for b in LedgerBook.objects.all()
    }
    skip = {
        "id",
        "history_id",
        "history_date",
        "created_at",
        "updated_at",
        "entry",
        "book",
        "account",
        "idempotency_key",
    }

    def values(obj):
        return repr(
            sorted((f.attname, getattr(obj, f.attname)) for f in obj._meta.concrete_fields if f.name not in skip)
        )

    postings = Posting.objects.filter(book__account_id__in=account_ids)
    entries = JournalEntry.objects.filter(postings__in=postings).distinct()
    return (
        sorted(values(e) for e in entries),
        sorted((books[p.book_id], values(p)) for p in Posting.objects.filter(entry__in=entries)),
        sorted((books[h.book_id], values(h)) for h in Posting.history.filter(entry_id__in=entries.values("id"))),
        sorted(values(h) for h in JournalEntry.history.filter(id__in=entries.values("id"))),
        sorted((order[c.account_id], values(c)) for c in CashBalance.objects.filter(account_id__in=account_ids)),
        sorted((order[h.account_id], values(h)) for h in CashBalance.history.filter(account_id__in=account_ids)),
    )


def test_the_copy_path_posts_what_the_orm_path_posts(alice_household, alice, monkeypatch):
    """On PostgreSQL entries and postings go in by COPY and their history rows by INSERT ...
    SELECT; twin accounts posted through the ORM path end up with the same rows and history."""
    from kronos import bulk

    orm, copy = accounts(alice_household, 3), accounts(alice_household, 3)
    for book, use_copy in ((orm, False), (copy, True)):
        monkeypatch.setattr(bulk, "enabled", lambda use_copy=use_copy: use_copy)
        ledger.post_entries_bulk(
            [cash_entry(a, "100.00", key=f"d:{n}:{use_copy}") for n, a in enumerate(book)], acting_user=alice.user
        )
        fees = [cash_entry(a, "-30.25", kind=JournalEntry.Kind.FEE) for a in book[:2]]
        fees.append(cash_entry(book[2], "-500.00", kind=JournalEntry.Kind.FEE))  # refused: not enough cash
        ledger.post_entries_bulk(fees, acting_user=alice.user, skip_refused=True)
    rows_orm, rows_copy = _ledger_rows([a.pk for a in orm]), _ledger_rows([a.pk for a in copy])
    assert rows_orm == rows_copy
    assert [len(part) for part in rows_copy] == [5, 10, 10, 5, 3, 5]  # 3 cash rows made, 2 changed
    assert ledger.verify() == []
