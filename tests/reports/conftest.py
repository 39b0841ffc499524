"""A statement's known answers: an account whose quarter is built entry by entry on dated days.

The quarter is the last one that ended before today (Q = [start, end]); `opening` is the day before
`start`. By hand:

- before the quarter: transfer in of 10 AAA (cost 900), 20 BBB (cost 1,000) and $500.00 cash, 10
  days before `opening`; a deposit of $999.00 ON `opening` (the day before the quarter: in the
  opening value, not a deposit of the quarter);
- in the quarter: a deposit of $1,000.00 on `start` (its first day), a withdrawal of $200.00, a
  dividend of $12.34, a fee of $7.89, a sale of 2 AAA at 105 (lot cost 90/share: realised gain
  $30.00), and a deposit of $0.01 ON `end` (its last day);
- after the quarter: a deposit of $5.00 the day after `end` (not in the statement).

Closes: AAA 100 at `opening`, 105 on the sale day, 110 at `end`; BBB 50 and 52.

Opening value = 10x100 + 20x50 + 500 + 999 = $3,499.00
Closing value = 8x110 + 20x52 + (500 + 999 + 1000 - 200 + 12.34 - 7.89 + 210 + 0.01) = 880 + 1040 + 2513.46
              = $4,433.46
Deposits $1,000.01, withdrawals $200.00, dividends $12.34, fees $7.89, realised gains $30.00
Change in market value = 4433.46 - 3499 - 1000.01 + 200 - 12.34 + 7.89 = $130.00
  (AAA: 2 sold 5 above the opening close, 8 up 10: 90; BBB: 20 up 2: 40).
Holdings at `end`: AAA 8 (cost 720.00, value 880.00), BBB 20 (cost 1,000.00, value 1,040.00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import system_user
from portfolios import ledger, services
from portfolios.ledger import PostingSpec
from portfolios.models import JournalEntry, LedgerBook
from reports.selectors import quarter_end_before, quarter_start
from tests.accounts.factories import UserFactory
from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory, SecurityFactory


@dataclass
class Quarter:
    start: date
    end: date
    opening: date


@pytest.fixture
def quarter() -> Quarter:
    end = quarter_end_before(timezone.localdate())
    start = quarter_start(end)
    return Quarter(start=start, end=end, opening=start - timedelta(days=1))


@pytest.fixture
def securities(db, quarter):
    aaa = SecurityFactory(symbol="AAA", name="Alpha Equity", asset_class="us_equity")
    bbb = SecurityFactory(symbol="BBB", name="Beta Bonds", asset_class="bonds")
    spy = SecurityFactory(symbol="SPY", name="S&P 500 ETF", asset_class="us_equity")
    sale_day = quarter.start + timedelta(days=50)
    for security, closes in (
        (
            aaa,
            [
                (quarter.opening - timedelta(days=10), "95"),
                (quarter.opening, "100"),
                (sale_day, "105"),
                (quarter.end, "110"),
            ],
        ),
        (bbb, [(quarter.opening - timedelta(days=10), "49"), (quarter.opening, "50"), (quarter.end, "52")]),
        (spy, [(quarter.opening, "400"), (quarter.end, "420")]),
    ):
        for day, close in closes:
            PriceFactory(security=security, date=day, close=Decimal(close))
    return {"AAA": aaa, "BBB": bbb, "SPY": spy}


def _cash_entry(account, kind, amount, day, other_kind, key):
    firm = account.household.firm
    return ledger.post_entry(
        kind=kind,
        postings=[
            PostingSpec.cash(ledger.client_book(account), Decimal(amount)),
            PostingSpec.cash(ledger.system_book(other_kind, firm=firm), -Decimal(amount)),
        ],
        effective_date=day,
        acting_user=system_user(),
        memo=f"{kind} {amount}",
        idempotency_key=key,
    )


@pytest.fixture
def statement_account(alice_household, securities, quarter, alice):
    """The account of the module docstring, its quarter posted entry by entry."""
    account = InvestmentAccountFactory(
        household=alice_household,
        name="Joint brokerage",
        custodian_account_number="KR-7001",
        opened_on=quarter.opening - timedelta(days=30),
    )
    services.transfer_in(
        account=account,
        positions=[
            {"symbol": "AAA", "quantity": Decimal("10"), "cost_basis": Decimal("900"), "acquired_on": date(2020, 1, 2)},
            {
                "symbol": "BBB",
                "quantity": Decimal("20"),
                "cost_basis": Decimal("1000"),
                "acquired_on": date(2020, 1, 2),
            },
        ],
        cash=Decimal("500.00"),
        acting_user=alice.user,
        idempotency_key="fund-7001",
        effective_date=quarter.opening - timedelta(days=10),
    )
    K = JournalEntry.Kind
    B = LedgerBook.Kind
    q = quarter
    _cash_entry(account, K.DEPOSIT, "999.00", q.opening, B.EXTERNAL_BANK, "d-opening")
    _cash_entry(account, K.DEPOSIT, "1000.00", q.start, B.EXTERNAL_BANK, "d-start")
    _cash_entry(account, K.WITHDRAWAL, "-200.00", q.start + timedelta(days=20), B.EXTERNAL_BANK, "w-1")
    _cash_entry(account, K.DIVIDEND, "12.34", q.start + timedelta(days=30), B.CORPORATE_ACTIONS, "div-1")
    _cash_entry(account, K.FEE, "-7.89", q.start + timedelta(days=40), B.FEES_INCOME, "fee-1")
    sale_day = q.start + timedelta(days=50)
    aaa = securities["AAA"]
    sale = ledger.post_entry(
        kind=K.TRADE,
        postings=[
            PostingSpec.shares(ledger.client_book(account), aaa, Decimal("-2"), price=Decimal("105")),
            PostingSpec.shares(ledger.system_book(B.MARKET), aaa, Decimal("2"), price=Decimal("105")),
            PostingSpec.cash(ledger.client_book(account), Decimal("210.00")),
            PostingSpec.cash(ledger.system_book(B.CUSTODIAN_CLEARING, firm=account.household.firm), Decimal("-210.00")),
        ],
        effective_date=sale_day,
        acting_user=system_user(),
        memo="Sell 2 AAA",
        idempotency_key="sale-1",
    )
    services.lots_relieve(
        account=account,
        security=aaa,
        quantity=Decimal("2"),
        price=Decimal("105"),
        closed_on=sale_day,
        acting_user=system_user(),
        entry=sale,
    )
    _cash_entry(account, K.DEPOSIT, "0.01", q.end, B.EXTERNAL_BANK, "d-end")
    _cash_entry(account, K.DEPOSIT, "5.00", q.end + timedelta(days=1), B.EXTERNAL_BANK, "d-after")
    return account


@pytest.fixture
def ops(alice):
    return UserFactory(email="ops@example.com", roles=["operations"], firm=alice.firm)


@pytest.fixture
def stranger(db):
    """An advisor of another firm."""
    from tests.accounts.factories import AdvisorFactory

    return AdvisorFactory(user__email="dave@other.example", user__full_name="Dave Elsewhere").user
