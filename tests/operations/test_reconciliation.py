"""Reconciliation against the sandbox custodian's books: exactly the injected differences break."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail

from accounts.services import system_user
from operations import services
from operations.errors import OperationsError
from operations.models import ReconciliationBreak
from portfolios import ledger
from portfolios.models import JournalEntry, Position
from portfolios.services import transfer_in
from sandboxes.custodian import SandboxCustodian
from tests.operations.book import build_book, inject, mirror_into_sandbox
from tests.operations.factories import ops_user
from trading.adapters.custodian import CustodianError, RestCustodian

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 17)


@pytest.fixture
def sandbox():
    sandbox = SandboxCustodian(secret="s", today=lambda: DAY)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def custodian(sandbox):
    return RestCustodian(sandbox.url, retries=0)


@pytest.fixture
def book(alice_household, sandbox):
    book = build_book(alice_household, funded_on=date(2025, 3, 3), price_days=[DAY])
    mirror_into_sandbox(sandbox, book.accounts, day=date(2025, 3, 3))
    return book


def _reconcile(book, custodian):
    return services.reconcile_accounts(
        account_ids=[a.pk for a in book.accounts], business_date=DAY, acting_user=system_user(), custodian=custodian
    )


def test_a_clean_book_gives_zero_breaks(book, custodian):
    outcome = _reconcile(book, custodian)
    assert outcome.counts == {"accounts": 4, "clean": 4, "breaks": 0}
    assert not ReconciliationBreak.objects.exists()


def test_injected_differences_become_exactly_those_breaks(book, sandbox, custodian):
    a, b = book.accounts[0], book.accounts[1]
    inject(sandbox, a, "VTI", Decimal("-5"), day=DAY)
    inject(sandbox, b, "CASH", Decimal("12.34"), day=DAY)
    inject(sandbox, b, "AAPL", Decimal("3"), day=DAY)
    inject(sandbox, a, "BND", Decimal("1"), day=date(2025, 3, 18))  # after the day: not in the statement

    _reconcile(book, custodian)
    _reconcile(book, custodian)  # a rerun records nothing twice

    breaks = {(x.account_id, x.asset, x.ours, x.theirs, x.difference) for x in ReconciliationBreak.objects.all()}
    assert breaks == {
        (a.pk, "VTI", Decimal(800), Decimal(795), Decimal(-5)),
        (b.pk, "CASH:USD", Decimal(0), Decimal("12.34"), Decimal("12.34")),
        (b.pk, "AAPL", Decimal(0), Decimal(3), Decimal(3)),
    }


def test_a_sandbox_opened_from_the_ledger_reconciles_clean_on_every_day(alice_household, sandbox, custodian):
    """`run_sandbox_custodian --books-from-database` (make run's custodian): it holds what the
    ledger holds, day by day, so reconciliation of today and of an earlier day finds nothing;
    the same book with a custodian that starts empty breaks on every position and the cash."""
    from sandboxes.management.commands.run_sandbox_custodian import ledger_moves

    book = build_book(alice_household, funded_on=date(2025, 3, 3), price_days=[DAY])
    account = book.accounts[0]
    transfer_in(  # cash in a week later: a second day in the ledger
        account=account,
        acting_user=system_user(),
        idempotency_key="later-cash",
        positions=[],
        cash=Decimal("2500.00"),
        effective_date=date(2025, 3, 10),
    )

    # a custodian that starts empty: every position breaks, and the cash of the two funded accounts
    assert _reconcile(book, custodian).counts["breaks"] == 4 * 3 + 2
    ReconciliationBreak.objects.all().delete()

    taken = sandbox.open_books(ledger_moves())
    assert taken == 4 * 3 + 3  # a move a day and asset: the first account's cash came on two days
    assert _reconcile(book, custodian).counts == {"accounts": 4, "clean": 4, "breaks": 0}
    earlier = services.reconcile_accounts(
        account_ids=[account.pk], business_date=date(2025, 3, 7), acting_user=system_user(), custodian=custodian
    )
    assert earlier.counts == {"accounts": 1, "clean": 1, "breaks": 0}
    assert (
        sandbox.statement(account.custodian_account_number, date(2025, 3, 7))["cash"]
        != sandbox.statement(account.custodian_account_number, DAY)["cash"]
    )


class CountingCustodian(RestCustodian):
    """The REST client, counting the statement calls it makes."""

    def __init__(self, *args, fail_file: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail_file = fail_file
        self.calls: list[str] = []

    def _request(self, method, path, **kwargs):
        self.calls.append(path.split("?")[0])
        if self.fail_file and path.startswith("/v1/statements"):
            raise CustodianError("The custodian answered 503.", status=503)
        return super()._request(method, path, **kwargs)


@pytest.mark.parametrize("fail_file", [False, True], ids=["one file", "file unavailable"])
def test_the_statements_come_in_one_file_or_account_by_account_with_the_same_breaks(book, sandbox, fail_file):
    a, b = book.accounts[0], book.accounts[1]
    inject(sandbox, a, "VTI", Decimal("-5"), day=DAY)
    inject(sandbox, b, "CASH", Decimal("12.34"), day=DAY)
    custodian = CountingCustodian(sandbox.url, retries=0, fail_file=fail_file)

    outcome = _reconcile(book, custodian)

    per_account = [c for c in custodian.calls if c.endswith("/statement")]
    assert custodian.calls.count("/v1/statements") == 1
    assert len(per_account) == (4 if fail_file else 0)
    assert outcome.counts == {"accounts": 4, "clean": 2, "with_breaks": 2, "breaks": 2}
    breaks = {(x.account_id, x.asset, x.difference) for x in ReconciliationBreak.objects.all()}
    assert breaks == {(a.pk, "VTI", Decimal(-5)), (b.pk, "CASH:USD", Decimal("12.34"))}


def test_the_statements_file_answers_for_the_accounts_asked_in_their_order(sandbox):
    sandbox.move_cash("KR-B", Decimal("10"))
    sandbox.move_position("KR-A", "vti", Decimal("3"))
    custodian = RestCustodian(sandbox.url, retries=0)

    statements = custodian.statements(["KR-B", "KR-A", "KR-NONE"], DAY)

    assert list(statements) == ["KR-B", "KR-A", "KR-NONE"]
    assert (statements["KR-B"].cash, statements["KR-B"].positions) == (Decimal("10"), {})
    assert (statements["KR-A"].cash, statements["KR-A"].positions) == (Decimal("0"), {"VTI": Decimal("3")})
    assert (statements["KR-NONE"].cash, statements["KR-NONE"].positions) == (Decimal("0"), {})
    assert statements["KR-A"] == custodian.statement("KR-A", DAY)


def test_the_statements_file_refuses_no_accounts_or_too_many(sandbox):
    import requests

    from sandboxes.custodian import STATEMENTS_PAGE

    url = f"{sandbox.url}/v1/statements"
    assert requests.get(url, params={"as_of": DAY.isoformat()}, timeout=5).status_code == 400
    many = ",".join(f"KR-{i}" for i in range(STATEMENTS_PAGE + 1))
    assert requests.get(url, params={"as_of": DAY.isoformat(), "accounts": many}, timeout=5).status_code == 400
    assert requests.get(url, params={"as_of": "17/03/2025", "accounts": "KR-1"}, timeout=5).status_code == 400


def test_resolving_a_break_adjusts_the_ledger_by_a_journal_entry(book, sandbox, custodian, alice, verified_client):
    a = book.accounts[0]
    inject(sandbox, a, "VTI", Decimal("-5"), day=DAY)
    _reconcile(book, custodian)
    brk = ReconciliationBreak.objects.get()
    client = verified_client(ops_user(alice.firm))

    page = client.get("/ops/breaks/")
    assert page.status_code == 200 and b"VTI" in page.content
    response = client.post(f"/ops/breaks/{brk.pk}/resolve/", {"note": "", "adjust": "on"})
    assert response.status_code == 400
    response = client.post(f"/ops/breaks/{brk.pk}/resolve/", {"note": "Custodian corrected a transfer", "adjust": "on"})
    assert response.status_code == 302

    brk.refresh_from_db()
    assert brk.status == ReconciliationBreak.Status.RESOLVED
    assert brk.resolved_by.firm_id == alice.firm_id
    assert brk.adjustment_entry.kind == JournalEntry.Kind.ADJUSTMENT
    assert Position.objects.get(account=a, security__symbol="VTI").quantity == Decimal(795)
    assert brk.history.first().history_user == brk.resolved_by
    assert ledger.verify() == []
    with pytest.raises(OperationsError, match="already resolved"):
        services.break_resolve(brk=brk, note="again", acting_user=system_user())
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.ADJUSTMENT).count() == 1
    assert _reconcile(book, custodian).counts["breaks"] == 0


def test_another_firms_break_is_a_404(book, sandbox, custodian, verified_client):
    from tests.accounts.factories import FirmFactory

    inject(sandbox, book.accounts[0], "VTI", Decimal("-5"), day=DAY)
    _reconcile(book, custodian)
    brk = ReconciliationBreak.objects.get()
    client = verified_client(ops_user(FirmFactory()))
    assert b"VTI" not in client.get("/ops/breaks/").content
    assert client.post(f"/ops/breaks/{brk.pk}/resolve/", {"note": "x"}).status_code == 404


def test_breaks_are_emailed_to_operations(book, sandbox, custodian, settings):
    from operations import stages
    from operations.models import JobRun

    settings.OPERATIONS_ALERT_EMAILS = ["ops@example.com"]
    inject(sandbox, book.accounts[0], "VTI", Decimal("-5"), day=DAY)
    _reconcile(book, custodian)
    stages.reconciliation_after(JobRun.objects.create(job="reconciliation", business_date=DAY))
    assert len(mail.outbox) == 1
    assert "1 reconciliation break" in mail.outbox[0].subject
    assert "VTI" in mail.outbox[0].body


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        ("2026-11-25T00:30:00+00:00", date(2026, 11, 24)),  # 19:30 in New York: still the 24th there
        ("2026-11-25T05:00:00+00:00", date(2026, 11, 25)),  # midnight in New York
        ("2026-07-01T03:59:00+00:00", date(2026, 6, 30)),  # summer time: 23:59 the day before
    ],
)
def test_the_sandbox_custodian_dates_trades_and_statements_by_new_york_not_utc(instant, day):
    """Our books date by the firm's day (America/New_York); a custodian whose day turned at UTC
    midnight would put the evening's fills on tomorrow and leave them out of today's statement."""
    from datetime import datetime

    from sandboxes.custodian import business_date

    assert business_date(datetime.fromisoformat(instant)) == day


def test_the_sandbox_takes_a_whole_transfer_of_positions_in_one_call_or_none_of_a_bad_one(sandbox):
    import requests

    url = f"{sandbox.url}/v1/accounts/KR-T/positions"
    whole = {"positions": [{"symbol": "vti", "quantity": "10"}, {"symbol": "BND", "quantity": "2.5"}]}
    assert requests.post(url, json=whole, timeout=5).json()["positions"] == {"BND": "2.5", "VTI": "10"}
    assert requests.post(url, json={"symbol": "VTI", "quantity": "-4"}, timeout=5).json()["positions"]["VTI"] == "6"
    for bad in ({"positions": []}, {"positions": [{"symbol": "AAPL", "quantity": "1"}, {"symbol": "", "quantity": "1"}]},
                {"positions": ["AAPL"]}, {"positions": [{"symbol": "AAPL", "quantity": "NaN"}]}):  # fmt: skip
        assert requests.post(url, json=bad, timeout=5).status_code == 400
    assert sandbox.statement("KR-T", DAY)["positions"] == {"BND": "2.5", "VTI": "6"}


@pytest.mark.parametrize(
    ("held", "kept", "in_lieu"),
    [
        ("31", "15", "50.00"),  # whole shares: 15.5 -> 15 kept, 0.5 x 100.00 paid in lieu on both sides
        ("31.25", "15.625", "0.00"),  # a fraction held (transferred in): both keep the fraction
    ],
    ids=["whole holding", "fractional holding"],
)
def test_a_split_of_a_whole_share_account_reconciles_with_the_custodian(alice_household, held, kept, in_lieu):
    """The year's run, day 194: a whole-share account holding a fraction of T (sold by a harvest
    in part lots after a reverse split) was split 2:1 -- Kronos kept the whole shares and paid
    half a share in lieu, the custodian (told nothing of the account's setting) kept the
    fraction a fractional holding gets: half a share and 3.41 apart, every night after. Kronos
    now takes the custodian's rule -- a holder of a fraction keeps fractions -- and the books
    agree on the ex-date, whole holding or not (here a 1:2 reverse split, 1 for 2)."""
    from portfolios.models import CorporateAction
    from portfolios.services import corporate_action_create, corporate_actions_process
    from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory, SecurityFactory

    funded, ex_day = date(2025, 3, 3), date(2025, 3, 14)
    xyz = SecurityFactory(symbol="XYZ")
    PriceFactory(security=xyz, date=ex_day, close=Decimal("100.00"))
    account = InvestmentAccountFactory(
        household=alice_household, custodian_account_number="KR-SPLIT-1", fractional_shares=False
    )
    transfer_in(
        account=account,
        acting_user=system_user(),
        idempotency_key="split-in",
        positions=[{"symbol": "XYZ", "quantity": Decimal(held), "cost_basis": Decimal("1000.00")}],
        cash=Decimal("500.00"),
        effective_date=funded,
    )
    sandbox = SandboxCustodian(secret="s", today=lambda: DAY)
    sandbox.start()
    try:
        mirror_into_sandbox(sandbox, [account], day=funded)
        action = corporate_action_create(
            security=xyz,
            kind=CorporateAction.Kind.REVERSE_SPLIT,
            ex_date=ex_day,
            ratio_numerator=1,
            ratio_denominator=2,
            cash_in_lieu_price=Decimal("100.00"),
            acting_user=system_user(),
        )
        status, _ = sandbox.corporate_action(
            {
                "id": f"split-{action.pk}",
                "type": "split",
                "symbol": "XYZ",
                "ex_date": ex_day.isoformat(),
                "split_to": 1,
                "split_from": 2,
                "cash_in_lieu_price": "100.00",
            }
        )
        assert status == 201
        corporate_actions_process(as_of=ex_day)

        ours = services.book_holdings_as_of(account_ids=[account.pk], as_of=DAY)[account.pk]
        assert ours["XYZ"] == Decimal(kept)
        assert ours["CASH:USD"] == Decimal("500.00") + Decimal(in_lieu)
        statement = sandbox.statement(account.custodian_account_number, DAY)
        assert (Decimal(statement["positions"]["XYZ"]), Decimal(statement["cash"])) == (ours["XYZ"], ours["CASH:USD"])
        outcome = services.reconcile_accounts(
            account_ids=[account.pk],
            business_date=DAY,
            acting_user=system_user(),
            custodian=RestCustodian(sandbox.url, retries=0),
        )
        assert outcome.counts == {"accounts": 1, "clean": 1, "breaks": 0}
    finally:
        sandbox.stop()
