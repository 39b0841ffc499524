"""Quarterly fee billing through the services: fees to the cent, debits through the ledger, once."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from accounts.services import system_user
from operations import services
from operations.errors import OperationsError
from operations.models import BillingRun, FeeCharge, FeeSchedule
from portfolios import ledger
from portfolios.models import JournalEntry, LedgerBook
from portfolios.services import transfer_in
from tests.operations.factories import ops_user, valuations, weekdays
from tests.portfolios.factories import InvestmentAccountFactory

pytestmark = pytest.mark.django_db

Q1 = (date(2025, 1, 1), date(2025, 3, 31))


@pytest.fixture
def flat(alice):
    return services.fee_schedule_create(
        firm=alice.firm, name="Flat 1%", flat_bps=Decimal(100), acting_user=system_user()
    )


@pytest.fixture
def tiered(alice):
    return services.fee_schedule_create(
        firm=alice.firm,
        name="Tiered",
        method=FeeSchedule.Method.TIERED,
        tiers=[(Decimal(1_000_000), Decimal(100)), (Decimal(5_000_000), Decimal(75)), (None, Decimal(50))],
        acting_user=system_user(),
    )


def _account(household, *, opened_on=date(2024, 1, 2), closed_on=None, value=None, **kwargs):
    account = InvestmentAccountFactory(household=household, opened_on=opened_on, closed_on=closed_on, **kwargs)
    if value is not None:
        valuations(account, dict.fromkeys(weekdays(date(2024, 12, 20), Q1[1]), value))
    return account


def _charge(run, account) -> FeeCharge:
    return run.charges.get(account=account)


def test_flat_and_tiered_fees_match_the_hand_computed_figures(alice, alice_household, bob_household, flat, tiered):
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    services.fee_schedule_assign(household=bob_household, schedule=tiered, acting_user=system_user())
    a = _account(alice_household, value=Decimal(1_000_000))
    b = _account(bob_household, value=Decimal(6_000_000))
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    # 1,000,000 x 1% x 90/365 = 2,465.7534 -> 2,465.75
    assert _charge(run, a).amount == Decimal("2465.75")
    # (10,000 + 30,000 + 5,000) x 90/365 = 11,095.8904 -> 11,095.89
    assert _charge(run, b).amount == Decimal("11095.89")
    assert _charge(run, b).effective_bps == Decimal("75.000000")
    assert run.total == Decimal("13561.64")
    assert run.charge_count == 2


def test_partial_periods_are_pro_rated_by_days_open(alice, alice_household, flat):
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    opened = _account(alice_household, opened_on=date(2025, 2, 15), value=Decimal(500_000))
    closed = _account(alice_household, closed_on=date(2025, 1, 31), value=Decimal(500_000))
    later = _account(alice_household, opened_on=date(2025, 4, 2), value=Decimal(500_000))
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    # 5,000 a year x 45/365 = 616.4384 -> 616.44 ; x 31/365 = 424.6575 -> 424.66
    assert (_charge(run, opened).days_billed, _charge(run, opened).amount) == (45, Decimal("616.44"))
    assert (_charge(run, closed).days_billed, _charge(run, closed).amount) == (31, Decimal("424.66"))
    assert not run.charges.filter(account=later).exists()


def test_a_value_change_mid_quarter_is_averaged_by_day_or_taken_at_period_end(
    alice, alice_household, bob_household, flat
):
    period_end = services.fee_schedule_create(
        firm=alice.firm,
        name="Flat 1% period end",
        flat_bps=Decimal(100),
        basis=FeeSchedule.Basis.PERIOD_END,
        acting_user=system_user(),
    )
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    services.fee_schedule_assign(household=bob_household, schedule=period_end, acting_user=system_user())
    values = {d: Decimal(1_000_000) for d in weekdays(date(2024, 12, 20), date(2025, 2, 14))}
    values |= {d: Decimal(1_300_000) for d in weekdays(date(2025, 2, 15), Q1[1])}
    adb, end = _account(alice_household), _account(bob_household)
    valuations(adb, values)
    valuations(end, values)
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    # Average daily balance: the first 1.3M valuation is Monday Feb 17 (Feb 15-16 is a weekend that
    # carries Friday's 1.0M), so 47 days at 1.0M and 43 at 1.3M: (47 x 1.0M + 43 x 1.3M) / 90
    # = 1,143,333.33...; x 1% = 11,433.33 a year x 90/365 = 2,819.1781 -> 2,819.18
    assert _charge(run, adb).basis_amount == Decimal("1143333.33")
    assert _charge(run, adb).amount == Decimal("2819.18")
    # Period end: 1,300,000 x 1% x 90/365 = 3,205.4795 -> 3,205.48
    assert _charge(run, end).amount == Decimal("3205.48")


def test_half_a_cent_rounds_to_the_even_cent(alice, alice_household, flat):
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    # Open Jan 18: 73 days of 365 (= 0.2). 6,172.50 x 1% = 61.725 a year x 0.2 = 12.345 -> 12.34
    account = _account(alice_household, opened_on=date(2025, 1, 18), value=Decimal("6172.50"))
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    assert _charge(run, account).amount == Decimal("12.34")


def test_approval_debits_each_fee_once_and_the_file_lists_them(alice, alice_household, flat, client):
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    account = _account(alice_household, value=Decimal(1_000_000))
    transfer_in(
        account=account,
        acting_user=system_user(),
        idempotency_key="cash",
        cash=Decimal("5000.00"),
        effective_date=date(2025, 1, 2),
    )
    poor = _account(alice_household, value=Decimal(1_000_000))
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    run = services.billing_run_approve(run=run, acting_user=system_user(), effective_date=date(2025, 4, 2))

    assert run.status == BillingRun.Status.APPROVED
    assert _charge(run, account).status == FeeCharge.Status.DEBITED
    assert _charge(run, poor).status == FeeCharge.Status.FAILED
    assert "cash" in _charge(run, poor).error
    assert run.total == Decimal("2465.75")
    fee_entries = JournalEntry.objects.filter(kind=JournalEntry.Kind.FEE)
    assert fee_entries.count() == 1
    assert ledger.book_balance(ledger.client_book(account)) == Decimal("2534.25")
    income = ledger.system_book(LedgerBook.Kind.FEES_INCOME, firm=alice.firm)
    assert ledger.book_balance(income) == Decimal("2465.75")
    assert ledger.verify() == []

    with pytest.raises(OperationsError, match="already"):
        services.billing_run_approve(run=run, acting_user=system_user())
    with pytest.raises(OperationsError, match="already been billed"):
        services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    assert fee_entries.count() == 1
    assert FeeCharge.objects.filter(account=account).count() == 1


def test_a_quarter_not_yet_ended_is_refused(alice):
    from django.utils import timezone

    with pytest.raises(OperationsError, match="in arrears"):
        services.billing_run_preview(
            firm=alice.firm,
            period_start=date(timezone.localdate().year, 1, 1).replace(
                month=3 * ((timezone.localdate().month - 1) // 3) + 1
            ),
            acting_user=system_user(),
        )


def test_a_tiered_schedule_needs_increasing_bounds_and_one_open_top_tier(alice):
    with pytest.raises(OperationsError, match="last tier"):
        services.fee_schedule_create(
            firm=alice.firm,
            name="Bad",
            method=FeeSchedule.Method.TIERED,
            tiers=[(Decimal(1_000_000), Decimal(100))],
            acting_user=system_user(),
        )
    with pytest.raises(OperationsError, match="increase"):
        services.fee_schedule_create(
            firm=alice.firm,
            name="Bad",
            method=FeeSchedule.Method.TIERED,
            tiers=[(Decimal(5_000_000), Decimal(100)), (Decimal(1_000_000), Decimal(75)), (None, Decimal(50))],
            acting_user=system_user(),
        )


def test_the_billing_pages_preview_approve_and_stream_the_file(alice, alice_household, flat, verified_client):
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    account = _account(alice_household, value=Decimal(1_000_000), custodian_account_number="CUST-FEE-1")
    transfer_in(
        account=account,
        acting_user=system_user(),
        idempotency_key="cash",
        cash=Decimal("5000.00"),
        effective_date=date(2025, 1, 2),
    )
    client = verified_client(ops_user(alice.firm))
    response = client.post("/ops/billing/", {"period_start": "2025-01-01"})
    run = BillingRun.objects.get()
    assert response.status_code == 302
    page = client.get(f"/ops/billing/{run.pk}/")
    assert b"$2,465.75" in page.content and b"CUST-FEE-1" in page.content
    assert client.get(f"/ops/billing/{run.pk}/file.csv").status_code == 404  # not approved yet
    client.post(f"/ops/billing/{run.pk}/approve/")
    response = client.get(f"/ops/billing/{run.pk}/file.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["custodian_account_number", "amount", "currency", "period", "period_start", "period_end"],
        ["CUST-FEE-1", "2465.75", "USD", "2025Q1", "2025-01-01", "2025-03-31"],
    ]


def test_another_firms_billing_run_is_a_404(alice, bob, alice_household, flat, verified_client):
    from tests.accounts.factories import FirmFactory

    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    client = verified_client(ops_user(FirmFactory()))
    assert client.get(f"/ops/billing/{run.pk}/").status_code == 404
    assert client.post(f"/ops/billing/{run.pk}/approve/").status_code == 404
    advisor_client = verified_client(bob.user)
    assert advisor_client.get("/ops/billing/").status_code == 404


def test_the_copy_path_bills_what_the_orm_path_bills(monkeypatch):
    """On PostgreSQL previews are written by COPY and the approval's entries, postings and
    status changes by COPY and UPDATE, with history rows made by INSERT ... SELECT; a twin firm
    billed through the ORM path ends up with the same charges, entries and history."""
    from kronos import bulk
    from tests.accounts.factories import FirmFactory, HouseholdFactory

    def firm_with_accounts():
        firm = FirmFactory()
        schedule = services.fee_schedule_create(
            firm=firm,
            name="Tiered",
            method=FeeSchedule.Method.TIERED,
            tiers=[(Decimal(1_000_000), Decimal(100)), (None, Decimal(50))],
            acting_user=system_user(),
        )
        household = HouseholdFactory(firm=firm)
        services.fee_schedule_assign(household=household, schedule=schedule, acting_user=system_user())
        rich = _account(household, value=Decimal("1234567.89"))
        transfer_in(account=rich, acting_user=system_user(), idempotency_key=f"cash:{rich.pk}", cash=Decimal("9000.00"))
        return firm, [
            rich,
            _account(household, value=Decimal(2_000_000)),
            _account(household, opened_on=date(2025, 2, 10), value=Decimal(1000)),
        ]

    def stored(firm, accounts):
        order = {a.pk: n for n, a in enumerate(accounts)}
        skip = {"id", "history_id", "history_date", "billing_run", "account", "schedule", "entry"}
        skip |= {"created_at", "idempotency_key", "reference_id"}  # times, and keys naming ids

        def values(obj):
            return repr(
                sorted((f.attname, getattr(obj, f.attname)) for f in obj._meta.concrete_fields if f.name not in skip)
            )

        charges = FeeCharge.objects.filter(billing_run__firm=firm)
        entries = JournalEntry.objects.filter(id__in=charges.values("entry_id"))
        return (
            sorted((order[c.account_id], c.entry_id is not None, values(c)) for c in charges),
            sorted((order[h.account_id], values(h)) for h in FeeCharge.history.filter(billing_run__firm=firm)),
            sorted(str(e.effective_date) + e.memo + e.kind for e in entries),
            sorted(values(h) for h in JournalEntry.history.filter(id__in=entries.values("id"))),
        )

    results = []
    for use_copy in (False, True):
        monkeypatch.setattr(bulk, "enabled", lambda use_copy=use_copy: use_copy)
        firm, accounts = firm_with_accounts()
        run = services.billing_run_preview(firm=firm, period_start=Q1[0], acting_user=system_user())
        services.billing_run_approve(run=run, acting_user=system_user(), effective_date=date(2025, 4, 2))
        results.append(stored(firm, accounts))
    assert results[0] == results[1]
    charges, charge_history, entries, entry_history = results[1]
    assert [debited for _, debited, _ in charges] == [True, False, False]  # the second has no cash, the third 0.xx
    assert len(charge_history) == 6 and len(entries) == 1 and len(entry_history) == 1
    assert ledger.verify() == []


def test_the_billing_file_neutralises_formula_cells(alice, alice_household, flat, verified_client):
    """Issue 12: an account number a spreadsheet would run is written as text; amounts stay numbers."""
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    account = _account(alice_household, value=Decimal(1_000_000), custodian_account_number="=1+2")
    transfer_in(
        account=account,
        acting_user=system_user(),
        idempotency_key="cash",
        cash=Decimal("5000.00"),
        effective_date=date(2025, 1, 2),
    )
    client = verified_client(ops_user(alice.firm))
    client.post("/ops/billing/", {"period_start": "2025-01-01"})
    run = BillingRun.objects.get()
    client.post(f"/ops/billing/{run.pk}/approve/")
    rows = list(
        csv.reader(io.StringIO(b"".join(client.get(f"/ops/billing/{run.pk}/file.csv").streaming_content).decode()))
    )
    assert rows[1] == ["'=1+2", "2465.75", "USD", "2025Q1", "2025-01-01", "2025-03-31"]
