"""Billing in full: household groups with breakpoints split back to the cent, minimums, accounts
opened mid-quarter, advance billing with withdrawal credits, another account paying, the invoice."""

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from accounts.services import system_user
from operations import services
from operations.engine import fees
from operations.errors import OperationsError
from operations.models import BillingRun, FeeCharge, FeeSchedule
from portfolios import ledger
from portfolios.models import ValuationSnapshot
from portfolios.services import transfer_in
from tests.operations.factories import ops_user, weekdays
from tests.portfolios.factories import InvestmentAccountFactory

pytestmark = pytest.mark.django_db

D = Decimal
Q1 = (date(2025, 1, 1), date(2025, 3, 31))
TIERS = [(D(1_000_000), D(100)), (D(5_000_000), D(75)), (None, D(50))]


def _schedule(firm, name="Household tiered", **kwargs):
    kwargs.setdefault("method", FeeSchedule.Method.TIERED)
    kwargs.setdefault("tiers", TIERS if kwargs["method"] == FeeSchedule.Method.TIERED else ())
    return services.fee_schedule_create(firm=firm, name=name, acting_user=system_user(), **kwargs)


def _account(household, value, *, opened_on=date(2024, 1, 2), first=date(2024, 9, 20), last=Q1[1], flows=None):
    """An account valued at `value` every weekday in [first, last]; `flows` {day: (flow, value after)}."""
    account = InvestmentAccountFactory(household=household, opened_on=opened_on)
    flows = flows or {}
    rows, current = [], D(value)
    for day in weekdays(max(first, opened_on), last):
        flow = D(0)
        if day in flows:
            flow, current = flows[day]
        rows.append(
            ValuationSnapshot(account=account, date=day, market_value=current, cash=D(0), net_external_flow=flow)
        )
    ValuationSnapshot.objects.bulk_create(rows)
    return account


def _charge(run, account, period_start=None) -> FeeCharge:
    return run.charges.get(account=account, period_start=period_start or run.period_start)


def test_split_cents_gives_the_leftover_cents_to_the_largest_remainders():
    parts = fees.split_cents(D("9863.01"), [(1, D(1)), (2, D(3)), (3, D(6))])
    # 986,301 cents: 98,630.1 / 295,890.3 / 591,780.6 -> floors 98,630 / 295,890 / 591,780, one cent left: to 3 (.6)
    assert parts == {1: D("986.30"), 2: D("2958.90"), 3: D("5917.81")}
    assert sum(parts.values()) == D("9863.01")
    # ties go to the smaller key
    assert fees.split_cents(D("0.02"), [(7, D(1)), (5, D(1)), (6, D(1))]) == {7: D("0.00"), 5: D("0.01"), 6: D("0.01")}


def test_a_household_of_three_accounts_is_billed_on_its_total_and_split_back_pro_rata(alice, alice_household):
    schedule = _schedule(alice.firm, aggregate_household=True)
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    a = _account(alice_household, 500_000)
    b = _account(alice_household, 1_500_000)
    c = _account(alice_household, 3_000_000)
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    # Household 5,000,000: 1,000,000 x 1% + 4,000,000 x 0.75% = 40,000 a year; x 90/365 = 9,863.0137 -> 9,863.01
    # split 10% / 30% / 60%: 986.301 / 2,958.904 / 5,917.808 -> the leftover cent to the largest remainder (C)
    assert [_charge(run, x).amount for x in (a, b, c)] == [D("986.30"), D("2958.90"), D("5917.81")]
    assert run.total == D("9863.01")
    group = _charge(run, c).calculation["group"]
    assert (group["basis"], group["fee"], group["accounts"]) == ("5000000.00", "9863.01", [a.pk, b.pk, c.pk])
    assert _charge(run, a).effective_bps == D("80.000000")  # 40,000 / 5,000,000
    # Billed one by one they would have paid 1,232.88 + 3,390.41 + 6,164.38 = 10,787.67.
    alone = sum(
        fees.quarterly_fee(
            tiers=[fees.Tier(u, r) for u, r in TIERS], basis=D(v), period_start=Q1[0], period_end=Q1[1], days_billed=90
        ).amount
        for v in (500_000, 1_500_000, 3_000_000)
    )
    assert alone == D("10787.67")


def test_a_minimum_annual_fee_is_a_floor_pro_rated_by_days(alice, alice_household, bob_household):
    schedule = _schedule(alice.firm, method=FeeSchedule.Method.FLAT, flat_bps=D(100), minimum_annual_fee=D(2500))
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    services.fee_schedule_assign(household=bob_household, schedule=schedule, acting_user=system_user())
    small = _account(alice_household, 100_000)
    large = _account(bob_household, 300_000)
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    # 100,000 x 1% = 1,000 a year < 2,500: 2,500 x 90/365 = 616.438 -> 616.44
    assert _charge(run, small).amount == D("616.44")
    assert _charge(run, small).calculation["group"]["minimum_applied"] is True
    # 300,000 x 1% = 3,000 a year >= 2,500: 3,000 x 90/365 = 739.726 -> 739.73
    assert _charge(run, large).amount == D("739.73")
    assert "group" not in _charge(run, large).calculation


def test_an_account_opened_mid_quarter_is_pro_rated_by_days_within_its_household(alice, alice_household):
    schedule = _schedule(alice.firm, aggregate_household=True)
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    old = _account(alice_household, 1_000_000)
    new = _account(alice_household, 1_000_000, opened_on=date(2025, 2, 14))  # a Friday
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    # Days billed: the old account Jan 1 - Mar 31 = 90; the new one Feb 14 - Mar 31 = 15 + 31 = 46.
    assert (_charge(run, old).days_billed, _charge(run, new).days_billed) == (90, 46)
    # Household basis 2,000,000: 10,000 + 1,000,000 x 0.75% = 17,500 a year.
    # 17,500 x (1/2 x 90 + 1/2 x 46) / 365 = 3,260.2740 -> 3,260.27, split by basis x days (90:46):
    # 2,157.5316 / 1,102.7384 -> 2,157.53 / 1,102.73 + the leftover cent to the larger remainder (.84)
    assert (_charge(run, old).amount, _charge(run, new).amount) == (D("2157.53"), D("1102.74"))
    assert run.total == D("3260.27")


def test_an_excluded_account_is_neither_billed_nor_counted(alice, alice_household):
    schedule = _schedule(alice.firm, aggregate_household=True)
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    billed = _account(alice_household, 1_000_000)
    left_out = _account(alice_household, 4_000_000)
    services.account_billing_set(account=left_out, excluded=True, acting_user=system_user())
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    assert not run.charges.filter(account=left_out).exists()
    assert _charge(run, billed).amount == D("2465.75")  # 10,000 x 90/365, the first tier alone


def test_advance_billing_credits_a_mid_quarter_withdrawal(alice, alice_household):
    schedule = _schedule(alice.firm, method=FeeSchedule.Method.FLAT, flat_bps=D(100), timing=FeeSchedule.Timing.ADVANCE)
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    services.billing_settings_set(firm=alice.firm, credit_withdrawals=True, acting_user=system_user())
    withdrawal = date(2025, 2, 14)
    account = _account(alice_household, 1_000_000, flows={withdrawal: (D(-200_000), D(800_000))})
    # After Q4 2024: Q1 2025 billed ahead on the Dec 31 value, 1,000,000 x 1% x 90/365 = 2,465.75
    q4 = services.billing_run_preview(firm=alice.firm, period_start=date(2024, 10, 1), acting_user=system_user())
    ahead = _charge(q4, account, Q1[0])
    assert (ahead.timing, ahead.period_end, ahead.days_billed, ahead.amount) == ("advance", Q1[1], 90, D("2465.75"))
    assert not q4.charges.filter(account=account, period_start=date(2024, 10, 1)).exists()
    # After Q1: Q2 (Apr 1 - Jun 30, 91 days) ahead on the Mar 31 value, 800,000 x 1% x 91/365 = 1,994.52,
    # less the credit for the 200,000 withdrawn on Feb 14, paid for until Mar 31: 45 days after it,
    # 200,000 x 1% x 45/365 = 246.5753 -> 246.58. Due: 1,994.52 - 246.58 = 1,747.94.
    q1 = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    q2 = _charge(q1, account, date(2025, 4, 1))
    assert (q2.days_billed, q2.credit, q2.amount) == (91, D("246.58"), D("1747.94"))
    credit = q2.calculation["credits"]["withdrawals"][0]
    assert (credit["date"], credit["withdrawn"], credit["days_remaining"]) == ("2025-02-14", "200000.00", 45)


def test_without_the_firm_setting_a_withdrawal_earns_no_credit(alice, alice_household):
    schedule = _schedule(alice.firm, method=FeeSchedule.Method.FLAT, flat_bps=D(100), timing=FeeSchedule.Timing.ADVANCE)
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    account = _account(alice_household, 1_000_000, flows={date(2025, 2, 14): (D(-200_000), D(800_000))})
    services.billing_run_preview(firm=alice.firm, period_start=date(2024, 10, 1), acting_user=system_user())
    q1 = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    assert (_charge(q1, account, date(2025, 4, 1)).credit, _charge(q1, account, date(2025, 4, 1)).amount) == (
        D("0.00"),
        D("1994.52"),
    )


def test_monthly_arrears_bills_the_month(alice, alice_household):
    schedule = _schedule(alice.firm, method=FeeSchedule.Method.FLAT, flat_bps=D(120), cycle=FeeSchedule.Cycle.MONTHLY)
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    account = _account(alice_household, 1_000_000)
    run = services.billing_run_preview(
        firm=alice.firm, period_start=date(2025, 2, 1), cycle=FeeSchedule.Cycle.MONTHLY, acting_user=system_user()
    )
    # 1,000,000 x 1.2% x 28/365 = 920.5479 -> 920.55
    assert (run.period_end, run.period_label) == (date(2025, 2, 28), "2025-02")
    assert (_charge(run, account).days_billed, _charge(run, account).amount) == (28, D("920.55"))
    # the quarterly run sees no monthly schedule
    quarterly = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    assert quarterly.charge_count == 0
    with pytest.raises(OperationsError, match="first day of a month"):
        services.billing_run_preview(
            firm=alice.firm, period_start=date(2025, 2, 2), cycle="monthly", acting_user=system_user()
        )


def test_a_fee_is_debited_from_the_fee_paying_account(alice, alice_household, bob_household):
    schedule = _schedule(alice.firm, method=FeeSchedule.Method.FLAT, flat_bps=D(100))
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    ira = _account(alice_household, 1_000_000)
    payer = _account(alice_household, 0)
    transfer_in(
        account=payer,
        acting_user=system_user(),
        idempotency_key="cash",
        cash=D("5000.00"),
        effective_date=date(2025, 1, 2),
    )
    services.account_billing_set(account=ira, paid_from=payer, acting_user=system_user())
    services.account_billing_set(account=payer, excluded=True, acting_user=system_user())
    stranger = InvestmentAccountFactory(household=bob_household)
    with pytest.raises(OperationsError, match="same household"):
        services.account_billing_set(account=ira, paid_from=stranger, acting_user=system_user())
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    run = services.billing_run_approve(run=run, acting_user=system_user(), effective_date=date(2025, 4, 2))
    charge = _charge(run, ira)
    assert (charge.status, charge.amount, charge.paid_from_id) == ("debited", D("2465.75"), payer.pk)
    assert ledger.book_balance(ledger.client_book(payer)) == D("2534.25")  # 5,000 - 2,465.75
    assert ledger.book_balance(ledger.client_book(ira)) == D(0)
    assert "for account" in charge.entry.memo
    assert ledger.verify() == []


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_household_invoice_pdf_shows_the_runs_figures(alice, alice_household, verified_client):
    schedule = _schedule(alice.firm, aggregate_household=True)
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    accounts = [_account(alice_household, v) for v in (500_000, 1_500_000, 3_000_000)]
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    client = verified_client(ops_user(alice.firm))
    page = client.get(f"/ops/billing/{run.pk}/")
    url = f"/ops/billing/{run.pk}/households/{alice_household.pk}/invoice.pdf"
    assert url in page.content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = _pdf_text(response.content)
    assert alice_household.name in text
    for account in accounts:
        charge = _charge(run, account)
        assert account.custodian_account_number in text
        assert f"${charge.amount:,.2f}" in text
        assert f"${charge.basis_amount:,.2f}" in text
    assert "Total due" in text
    assert run.total == D("9863.01")
    assert "$9,863.01" in text
    assert "$5,000,000.00" in text  # the household's total the tiers were reached on


def test_an_invoice_is_scoped_to_the_firm_and_its_households(alice, alice_household, bob_household, verified_client):
    from tests.accounts.factories import FirmFactory

    schedule = _schedule(alice.firm, method=FeeSchedule.Method.FLAT, flat_bps=D(100))
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    _account(alice_household, 1_000_000)
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    url = f"/ops/billing/{run.pk}/households/{alice_household.pk}/invoice.pdf"
    assert verified_client(ops_user(FirmFactory())).get(url).status_code == 404
    own = verified_client(ops_user(alice.firm))
    assert own.get(f"/ops/billing/{run.pk}/households/{bob_household.pk}/invoice.pdf").status_code == 404
    assert own.get(url).status_code == 200


def test_the_billing_job_makes_the_months_run_for_monthly_schedules(alice, alice_household, bob_household):
    monthly = _schedule(alice.firm, "Monthly", method=FeeSchedule.Method.FLAT, flat_bps=D(120), cycle="monthly")
    quarterly = _schedule(alice.firm, "Quarterly", method=FeeSchedule.Method.FLAT, flat_bps=D(100))
    services.fee_schedule_assign(household=alice_household, schedule=monthly, acting_user=system_user())
    services.fee_schedule_assign(household=bob_household, schedule=quarterly, acting_user=system_user())
    _account(alice_household, 1_000_000)
    _account(bob_household, 1_000_000)
    outcome = services.billing_previews_create(as_of=date(2025, 4, 1), acting_user=system_user())
    runs = {(r.cycle, r.period_start): r for r in BillingRun.objects.filter(firm=alice.firm)}
    assert set(runs) == {("quarterly", Q1[0]), ("monthly", date(2025, 3, 1))}
    assert runs[("monthly", date(2025, 3, 1))].total == D("1019.18")  # 12,000 x 31/365 = 1,019.178
    assert runs[("quarterly", Q1[0])].total == D("2465.75")
    assert outcome.counts["runs"] == 2
    # May 1st: the monthly schedule's April; the quarterly one waits for July 1st.
    outcome = services.billing_previews_create(as_of=date(2025, 5, 1), acting_user=system_user())
    assert outcome.counts["runs"] == 1
    assert set(BillingRun.objects.filter(firm=alice.firm).values_list("cycle", "period_start")) == {
        ("quarterly", Q1[0]),
        ("monthly", date(2025, 3, 1)),
        ("monthly", date(2025, 4, 1)),
    }


def test_the_billing_job_is_scheduled_on_the_first_of_every_month():
    from django_celery_beat.models import PeriodicTask

    billing = PeriodicTask.objects.get(task="operations.billing")
    crontab = billing.crontab
    assert (crontab.day_of_month, crontab.month_of_year, crontab.hour, crontab.minute) == ("1", "*", "7", "0")
    assert billing.name == "Fee billing preview (monthly; quarterly schedules at quarter ends)"


def test_an_excluded_holding_is_taken_off_the_billable_value(alice, alice_household):
    from tests.portfolios.factories import PriceFactory, SecurityFactory

    private = SecurityFactory(symbol="PRIV")
    PriceFactory(security=private, date=date(2024, 12, 31), close=D(100))
    schedule = _schedule(alice.firm, method=FeeSchedule.Method.FLAT, flat_bps=D(100), excluded_securities=[private])
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    account = _account(alice_household, 1_000_000)
    transfer_in(
        account=account,
        acting_user=system_user(),
        idempotency_key="private",
        positions=[{"symbol": "PRIV", "quantity": D(100), "cost_basis": D(5000), "acquired_on": date(2020, 1, 2)}],
        effective_date=date(2025, 1, 2),
    )
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    # Jan 1 carries Dec 31's 1,000,000 (no PRIV yet); Jan 2 - Mar 31 (89 days) 1,000,000 - 100 x 100.
    # Average daily balance (1,000,000 + 89 x 990,000) / 90 = 990,111.11; x 1% x 90/365 = 2,441.3699 -> 2,441.37
    charge = _charge(run, account)
    assert charge.basis_amount == D("990111.11")
    assert charge.amount == D("2441.37")
