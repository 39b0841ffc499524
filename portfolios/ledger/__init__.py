"""The double-entry ledger: the ONLY way cash and securities move.

Interface (for trading: fills, settlement, deposits, withdrawals, fees)::

    from portfolios import ledger
    from portfolios.ledger import PostingSpec

    entry = ledger.post_entry(
        kind=JournalEntry.Kind.DEPOSIT,            # opening_balance, transfer_in, deposit, withdrawal,
                                                  # trade, settlement, fee, dividend, adjustment, ...
        postings=[
            PostingSpec.cash(ledger.client_book(account), Decimal("500.00")),
            PostingSpec.cash(ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK, firm=firm), Decimal("-500.00")),
        ],
        effective_date=date.today(),
        memo="ACH deposit",
        acting_user=user,                         # a User; jobs pass accounts.services.system_user()
        idempotency_key="deposit:42",             # optional; a retry with the same key returns the first entry
        reference_type="trading.transfer", reference_id="42",
        allow_negative=False,                     # True lets a client position/cash go below zero
    )

A buy fill of 10 AAPL at 150 for an account is, for example::

    PostingSpec.shares(client_book(account), aapl, Decimal("10"), price=Decimal("150")),
    PostingSpec.shares(system_book(LedgerBook.Kind.MARKET), aapl, Decimal("-10"), price=Decimal("150")),
    PostingSpec.cash(client_book(account), Decimal("-1500.00")),
    PostingSpec.cash(system_book(LedgerBook.Kind.CUSTODIAN_CLEARING, firm=firm), Decimal("1500.00")),

(trading decides whether cash moves at the fill or at settlement). Tax lots are kept by
`portfolios.services.lot_open` / `lots_relieve`, called by trading beside the entry.

What `post_entry` guarantees, in one `transaction.atomic()`:
- the postings of the entry sum to zero per asset (per security, and per currency for
  cash); no posting is zero; cash amounts have at most 2 decimal places and share
  quantities at most 9;
- the client accounts touched are locked (`select_for_update`, in id order so two entries
  never deadlock), then their `Position` / `CashBalance` rows are changed by exactly the
  postings' sums, with history rows naming `acting_user`;
- a debit that would take a client position or cash balance below zero refuses the whole
  entry with `PortfoliosError`, unless `allow_negative=True`; a credit is always taken (it
  only brings a balance that is already short, e.g. after a buy filled above its
  reservation, back towards zero);
- with an `idempotency_key`, a retry (even a concurrent one) returns the first entry and
  posts nothing.

`verify()` proves the materialised balances equal the postings and every entry balances;
`python manage.py check_ledger` runs it.
"""

from portfolios.ledger.books import book_balance, books_for, client_book, client_books, system_book, verify
from portfolios.ledger.bulk_posting import (
    POSTING_COLUMNS,
    BulkPosted,
    EntrySpec,
    bulk_update_rows_with_history,
    post_entries_bulk,
)
from portfolios.ledger.posting import PostingSpec, post_entry

__all__ = [
    "POSTING_COLUMNS",
    "BulkPosted",
    "EntrySpec",
    "PostingSpec",
    "book_balance",
    "books_for",
    "bulk_update_rows_with_history",
    "client_book",
    "client_books",
    "post_entries_bulk",
    "post_entry",
    "system_book",
    "verify",
]
