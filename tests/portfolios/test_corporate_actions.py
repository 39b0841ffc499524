"""Corporate actions: dividends on the ex-date and pay date, splits and reverse splits on lots,
positions and cash in lieu, every figure computed by hand in the test."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.services import system_user
from portfolios import ledger, services
from portfolios.errors import PortfoliosError
from portfolios.ledger import PostingSpec
from portfolios.models import (
    CashBalance,
    CorporateAction,
    CorporateActionEntitlement,
    JournalEntry,
    LedgerBook,
    LotClosure,
    Position,
    TaxLot,
)
from portfolios.services import (
    corporate_action_create,
    corporate_actions_process,
)
from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory, SecurityFactory

pytestmark = pytest.mark.django_db

D = Decimal
EX = date(2025, 3, 14)  # a Friday
BEFORE = date(2025, 3, 13)  # the business day before: its holders at the close are entitled
PAY = date(2025, 3, 28)


def fund(account, amount: str, day: date) -> None:
    user = system_user()
    ledger.post_entry(
        kind=JournalEntry.Kind.DEPOSIT,
        postings=[
            PostingSpec.cash(ledger.client_book(account), D(amount)),
            PostingSpec.cash(ledger.system_book(LedgerBook.Kind.EXTERNAL_BANK), -D(amount)),
        ],
        effective_date=day,
        acting_user=user,
        idempotency_key=f"test-deposit-{account.pk}-{day}-{amount}",
    )


def trade(account, security, side: str, quantity: str, price: str, day: date) -> JournalEntry:
    """A fill as trading books it: shares against the market, cash against the clearing book, a lot."""
    user, qty, px = system_user(), D(quantity), D(price)
    sign = 1 if side == "buy" else -1
    amount = (qty * px).quantize(D("0.01"))
    entry = ledger.post_entry(
        kind=JournalEntry.Kind.TRADE,
        postings=[
            PostingSpec.shares(ledger.client_book(account), security, sign * qty, price=px),
            PostingSpec.shares(ledger.system_book(LedgerBook.Kind.MARKET), security, -sign * qty, price=px),
            PostingSpec.cash(ledger.client_book(account), -sign * amount),
            PostingSpec.cash(ledger.system_book(LedgerBook.Kind.CUSTODIAN_CLEARING), sign * amount),
        ],
        effective_date=day,
        acting_user=user,
    )
    if side == "buy":
        services.lot_open(
            account=account,
            security=security,
            quantity=qty,
            cost_per_share=px,
            acquired_on=day,
            acting_user=user,
            entry=entry,
        )
    else:
        services.lots_relieve(
            account=account, security=security, quantity=qty, price=px, closed_on=day, acting_user=user, entry=entry
        )
    return entry


def cash(account) -> Decimal:
    row = CashBalance.objects.filter(account=account).first()
    return row.amount if row else D(0)


def shares(account, security) -> Decimal:
    row = Position.objects.filter(account=account, security=security).first()
    return row.quantity if row else D(0)


def ledger_is_clean() -> None:
    assert ledger.verify() == []
    call_command("check_ledger")


@pytest.fixture
def xyz(db):
    return SecurityFactory(symbol="XYZ")


@pytest.fixture
def accounts(alice_household, xyz):
    """A bought 100 XYZ the day before the ex-date; B bought 50 on the ex-date; C held 30 from
    earlier and sold them on the ex-date. Each started with $10,000.00."""
    made = {}
    for name in "ABC":
        account = InvestmentAccountFactory(household=alice_household, custodian_account_number=f"KR-CA-{name}")
        fund(account, "10000.00", date(2025, 3, 3))
        made[name] = account
    trade(made["A"], xyz, "buy", "100", "40", BEFORE)
    trade(made["B"], xyz, "buy", "50", "40", EX)
    trade(made["C"], xyz, "buy", "30", "38", date(2025, 3, 5))
    trade(made["C"], xyz, "sell", "30", "39", EX)
    return made


def dividend(xyz, **overrides):
    terms = {
        "security": xyz,
        "kind": CorporateAction.Kind.CASH_DIVIDEND,
        "ex_date": EX,
        "record_date": EX,
        "pay_date": PAY,
        "amount_per_share": D("0.2225"),
        "acting_user": system_user(),
    }
    return corporate_action_create(**{**terms, **overrides})


# --- Dividends ----------------------------------------------------------------------------------


def test_holders_at_the_close_before_the_ex_date_are_entitled_and_a_buyer_on_the_ex_date_is_not(accounts, xyz):
    action = dividend(xyz)

    # The day before the ex-date nothing happens.
    assert corporate_actions_process(as_of=BEFORE).entitlements == 0
    assert not CorporateActionEntitlement.objects.exists()

    result = corporate_actions_process(as_of=EX)
    assert (result.dividends_entitled, result.entitlements, result.payments) == (1, 2, 0)
    owed = {e.account.custodian_account_number: (e.quantity, e.amount) for e in action.entitlements.all()}
    # A: 100 x 0.2225 = 22.25. C sold on the ex-date and is still owed: 30 x 0.2225 = 6.675 -> 6.68
    # (cents, ROUND_HALF_EVEN). B bought on the ex-date: nothing.
    assert owed == {"KR-CA-A": (D(100), D("22.25")), "KR-CA-C": (D(30), D("6.68"))}
    action.refresh_from_db()
    assert action.status == CorporateAction.Status.ENTITLED
    # Entitled is not paid: no cash moved yet.
    assert [cash(accounts[n]) for n in "ABC"] == [D("6000.00"), D("8000.00"), D("10030.00")]
    ledger_is_clean()


def test_the_pay_date_posts_the_cash_once_and_only_once(accounts, xyz):
    action = dividend(xyz)
    corporate_actions_process(as_of=EX)
    assert corporate_actions_process(as_of=date(2025, 3, 27)).payments == 0  # the day before the pay date

    paid = corporate_actions_process(as_of=PAY)
    again = corporate_actions_process(as_of=PAY)
    later = corporate_actions_process(as_of=date(2025, 4, 1))

    assert (paid.payments, again.payments, later.payments) == (2, 0, 0)
    assert [cash(accounts[n]) for n in "ABC"] == [D("6022.25"), D("8000.00"), D("10036.68")]
    entries = JournalEntry.objects.filter(kind=JournalEntry.Kind.DIVIDEND)
    assert entries.count() == 2
    assert {e.effective_date for e in entries} == {PAY}
    assert {e.created_by for e in entries} == {system_user()}
    # The paying agent's book carries the other side: -(22.25 + 6.68).
    agent = LedgerBook.objects.get(kind=LedgerBook.Kind.CORPORATE_ACTIONS)
    assert ledger.book_balance(agent) == D("-28.93")
    action.refresh_from_db()
    assert action.status == CorporateAction.Status.PAID
    assert set(action.entitlements.values_list("status", flat=True)) == {"paid"}
    assert action.history.first().history_user == system_user()
    ledger_is_clean()


def test_a_missed_night_catches_up_the_ex_date_and_the_pay_date_in_one_run(accounts, xyz):
    dividend(xyz)
    result = corporate_actions_process(as_of=date(2025, 4, 2))
    assert (result.entitlements, result.payments) == (2, 2)
    assert cash(accounts["A"]) == D("6022.25")
    ledger_is_clean()


def test_the_dividend_is_valued_as_income_not_as_an_external_flow(accounts, xyz):
    dividend(xyz)
    corporate_actions_process(as_of=PAY)
    PriceFactory(security=xyz, date=PAY, close=D("41"))
    snapshot = services.valuation_snapshot_write(account=accounts["A"], date=PAY)
    assert (snapshot.cash, snapshot.market_value, snapshot.net_external_flow) == (D("6022.25"), D("4100.00"), D(0))


# --- Splits -------------------------------------------------------------------------------------


@pytest.fixture
def odd_lot(alice_household, xyz):
    """101 XYZ in two lots (41 at 12.00, 60 at 10.50) in a whole-share account, the same in a
    fractional one."""
    out = {}
    for name, fractional in (("whole", False), ("fractional", True)):
        account = InvestmentAccountFactory(
            household=alice_household, custodian_account_number=f"KR-SPLIT-{name}", fractional_shares=fractional
        )
        fund(account, "2000.00", date(2024, 1, 2))
        trade(account, xyz, "buy", "41", "12.00", date(2024, 1, 10))
        trade(account, xyz, "buy", "60", "10.50", date(2024, 5, 1))
        out[name] = account
    return out


def test_a_3_for_2_split_of_an_odd_lot_pays_the_half_share_in_cash_to_the_cent(odd_lot, xyz):
    split_day = date(2025, 6, 2)
    PriceFactory(security=xyz, date=split_day, close=D("20.37"))  # the ex-date close, post-split
    action = corporate_action_create(
        security=xyz,
        kind=CorporateAction.Kind.SPLIT,
        ex_date=split_day,
        ratio_numerator=3,
        ratio_denominator=2,
        acting_user=system_user(),
    )
    whole, fractional = odd_lot["whole"], odd_lot["fractional"]
    cash_before = cash(whole)  # 2000 - 492 - 630 = 878.00
    assert cash_before == D("878.00")

    result = corporate_actions_process(as_of=split_day)

    assert (result.splits_applied, result.accounts_adjusted) == (1, 2)
    # 101 x 3/2 = 151.5: 151 kept, 0.5 x 20.37 = 10.185 -> 10.18 (ROUND_HALF_EVEN) in lieu.
    assert shares(whole, xyz) == D(151)
    assert cash(whole) == D("888.18")
    # The fractional account keeps 151.5 and gets no cash.
    assert shares(fractional, xyz) == D("151.5")
    assert cash(fractional) == D("878.00")
    lots = list(TaxLot.objects.filter(account=whole, security=xyz).order_by("acquired_on"))
    # 41 @ 12.00 -> 61.5 @ 8.00, less the 0.5 paid in lieu (highest cost first) = 61; 60 @ 10.50 -> 90 @ 7.00.
    assert [(lot.quantity, lot.original_quantity, lot.cost_per_share) for lot in lots] == [
        (D(61), D("61.5"), D("8.000000")),
        (D(90), D(90), D("7.000000")),
    ]
    # Total cost unchanged: 61.5 x 8 + 90 x 7 = 492 + 630 = 1,122 = 41 x 12 + 60 x 10.50.
    closure = LotClosure.objects.get(lot=lots[0])
    assert (closure.quantity, closure.proceeds, closure.cost, closure.gain) == (
        D("0.5"),
        D("10.18"),
        D("4.00"),
        D("6.18"),
    )
    frac_lots = TaxLot.objects.filter(account=fractional, security=xyz).order_by("acquired_on")
    assert [(lot.quantity, lot.cost_per_share) for lot in frac_lots] == [(D("61.5"), D(8)), (D(90), D(7))]
    entry = JournalEntry.objects.get(idempotency_key=f"corpaction:{action.pk}:ex:{whole.pk}")
    assert entry.kind == JournalEntry.Kind.CORPORATE_ACTION and entry.effective_date == split_day
    assert sorted((p.security_id is not None, p.quantity) for p in entry.postings.filter(book__kind="client")) == [
        (False, D("10.18")),
        (True, D(50)),
    ]
    action.refresh_from_db()
    assert (action.status, action.cash_in_lieu_price) == (CorporateAction.Status.APPLIED, D("20.37"))
    assert lots[0].history.first().history_change_reason == f"3-for-2 split #{action.pk}"
    ledger_is_clean()

    # Run again the same day and the next: nothing moves twice.
    corporate_actions_process(as_of=split_day)
    corporate_actions_process(as_of=date(2025, 6, 3))
    assert (shares(whole, xyz), cash(whole)) == (D(151), D("888.18"))
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.CORPORATE_ACTION).count() == 2


def test_a_1_for_10_reverse_split_divides_every_lot_and_pays_the_remainder(alice_household, xyz):
    account = InvestmentAccountFactory(household=alice_household, custodian_account_number="KR-REV")
    fund(account, "1000.00", date(2024, 1, 2))
    trade(account, xyz, "buy", "45", "4.25", date(2024, 2, 1))
    trade(account, xyz, "buy", "80", "3.10", date(2024, 3, 1))
    # 1000 - 191.25 - 248.00 = 560.75
    corporate_action_create(
        security=xyz,
        kind=CorporateAction.Kind.REVERSE_SPLIT,
        ex_date=date(2025, 1, 6),
        ratio_numerator=1,
        ratio_denominator=10,
        cash_in_lieu_price="38.00",
        acting_user=system_user(),
    )
    corporate_actions_process(as_of=date(2025, 1, 6))

    # 125 / 10 = 12.5: 12 kept, 0.5 x 38.00 = 19.00 in lieu.
    assert (shares(account, xyz), cash(account)) == (D(12), D("579.75"))
    lots = list(TaxLot.objects.filter(account=account, security=xyz).order_by("acquired_on"))
    # 45 @ 4.25 -> 4.5 @ 42.50 (0.5 paid in lieu: 4); 80 @ 3.10 -> 8 @ 31.00.
    assert [(lot.quantity, lot.cost_per_share) for lot in lots] == [(D(4), D("42.5")), (D(8), D(31))]
    closure = LotClosure.objects.get(lot=lots[0])
    assert (closure.proceeds, closure.cost, closure.gain) == (D("19.00"), D("21.25"), D("-2.25"))
    ledger_is_clean()


def test_a_split_without_a_price_for_the_cash_in_lieu_writes_nothing_and_says_why(alice_household):
    lonely = SecurityFactory(symbol="NOPX")
    account = InvestmentAccountFactory(household=alice_household, custodian_account_number="KR-NOPX")
    fund(account, "100.00", date(2024, 1, 2))
    trade(account, lonely, "buy", "3", "10", date(2024, 1, 3))
    corporate_action_create(
        security=lonely,
        kind="split",
        ex_date=date(2025, 1, 6),
        ratio_numerator=3,
        ratio_denominator=2,
        acting_user=system_user(),
    )
    result = corporate_actions_process(as_of=date(2025, 1, 6))
    assert result.failed == 1
    assert "give the cash-in-lieu price" in result.errors[0]
    assert shares(account, lonely) == D(3)
    assert CorporateAction.objects.get(security=lonely).status == CorporateAction.Status.ANNOUNCED
    ledger_is_clean()


# --- Creating -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "field", "message"),
    [
        ({"kind": "split", "ratio_numerator": 0, "ratio_denominator": 2}, "ratio_numerator", "greater than 0"),
        ({"kind": "split", "ratio_numerator": 3, "ratio_denominator": 3}, "ratio_numerator", "1-for-1"),
        ({"kind": "split", "ratio_numerator": 1, "ratio_denominator": 10}, "kind", "that is a reverse split"),
        ({"kind": "split", "ratio_numerator": "1.5", "ratio_denominator": 1}, "ratio_numerator", "whole numbers"),
        (
            {"kind": "cash_dividend", "amount_per_share": "0.5", "pay_date": date(2025, 3, 13)},
            "pay_date",
            "cannot be before the ex-date",
        ),
        ({"kind": "cash_dividend", "amount_per_share": "0", "pay_date": PAY}, "amount_per_share", "positive"),
        ({"kind": "cash_dividend", "amount_per_share": 0.5, "pay_date": PAY}, "amount_per_share", "never a float"),
        ({"kind": "bonus", "ratio_numerator": 2, "ratio_denominator": 1}, "kind", "not a kind"),
    ],
)
def test_corporate_action_create_refuses_bad_terms(xyz, terms, field, message):
    with pytest.raises(PortfoliosError) as caught:
        corporate_action_create(security=xyz, ex_date=EX, acting_user=system_user(), **terms)
    errors = caught.value.errors or {caught.value.field: [caught.value.message]}
    assert field in errors
    assert message in " ".join(errors[field])
    assert not CorporateAction.objects.exists()


def test_the_same_provider_event_is_recorded_once(xyz):
    first = dividend(xyz, source="sandbox", external_id="E1")
    second = dividend(xyz, source="sandbox", external_id="E1")
    assert first.pk == second.pk
    assert CorporateAction.objects.count() == 1


def _queries_for(alice_household, n: int, tag: str) -> tuple[int, int]:
    """Queries to process a dividend's ex-date and pay date, and a split, for `n` holders."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    security = SecurityFactory(symbol=f"Q{tag}")
    PriceFactory(security=security, date=date(2025, 9, 2), close=D("10"))
    for i in range(n):
        account = InvestmentAccountFactory(household=alice_household, custodian_account_number=f"KR-Q{tag}-{i}")
        fund(account, "100.00", date(2025, 8, 1))
        trade(account, security, "buy", "3", "10", date(2025, 8, 4))
    corporate_action_create(
        security=security,
        kind="cash_dividend",
        ex_date=date(2025, 8, 15),
        pay_date=date(2025, 8, 29),
        amount_per_share="0.10",
        acting_user=system_user(),
    )
    corporate_action_create(
        security=security,
        kind="split",
        ex_date=date(2025, 9, 2),
        ratio_numerator=3,
        ratio_denominator=2,
        acting_user=system_user(),
    )
    with CaptureQueriesContext(connection) as dividend:
        corporate_actions_process(as_of=date(2025, 8, 29))
    with CaptureQueriesContext(connection) as split:
        corporate_actions_process(as_of=date(2025, 9, 2))
    assert Position.objects.filter(security=security, quantity=D(4)).count() == n  # 3 -> 4.5: 4 kept
    return len(dividend), len(split)


def test_processing_costs_the_same_queries_for_3_holders_as_for_9(alice_household):
    system_user()  # created once, outside the counts
    ledger.system_book(LedgerBook.Kind.CORPORATE_ACTIONS, firm=alice_household.firm_id)
    few = _queries_for(alice_household, 3, "A")
    many = _queries_for(alice_household, 9, "B")
    assert few == many
    ledger_is_clean()
