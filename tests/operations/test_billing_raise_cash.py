"""A quarterly fee on a fully invested account (issue 13): the ledger refuses to overdraw the cash,
so approval raises the fee by a sell proposal and the settlement step debits it once the sales
have settled — instead of failing the charge.

The account: $0.00 cash, 30 VTI at $200 and 57 BND at $70 on a 60/40 model; valued at $10,000 a
day through Q1 2025, so the flat 1% fee is 10,000 x 1% x 90/365 = 24.6575 -> $24.66."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.services import system_user
from operations import services
from operations.models import FeeCharge
from operations.stages import settlement_step
from portfolios import ledger
from portfolios.models import CashBalance, JournalEntry, LedgerBook
from tests.operations.factories import valuations, weekdays
from tests.trading.factories import account_with, model_of, securities  # noqa: F401
from trading import services as trading
from trading.checks import FUNDING_CHECKS, PRETRADE_CHECKS
from trading.models import Order, RebalanceProposal
from trading.services.common import add_business_days
from trading.services.fills import Fill, execution_apply

pytestmark = pytest.mark.django_db
Q1 = (date(2025, 1, 1), date(2025, 3, 31))


@pytest.fixture(autouse=True)
def _no_checks(settings, override_checks):
    override_checks(PRETRADE_CHECKS)
    override_checks(FUNDING_CHECKS)
    settings.TRADING_RELAY_ON_COMMIT = False


@pytest.fixture
def invested(alice, alice_household, securities):  # noqa: F811
    schedule = services.fee_schedule_create(
        firm=alice.firm, name="Flat 1%", flat_bps=Decimal(100), acting_user=system_user()
    )
    services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    model = model_of(alice_household.firm, {"VTI": "0.6", "BND": "0.4"})
    account = account_with(
        alice_household, positions=[("VTI", "30", "150"), ("BND", "57", "60")], model=model, opened_on=date(2024, 1, 2)
    )
    valuations(account, dict.fromkeys(weekdays(date(2024, 12, 20), Q1[1]), Decimal(10_000)))
    return account


def _approve(alice):
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    return services.billing_run_approve(run=run, acting_user=system_user(), effective_date=date(2025, 4, 2))


def _fill_all(proposal):
    for n, order in enumerate(Order.objects.filter(proposal=proposal).select_related("security")):
        execution_apply(
            fill=Fill(order.client_order_id, f"X-{n}", order.quantity, order.estimated_price, proposal.as_of),
            acting_user=system_user(),
        )


def _cash(account):
    return CashBalance.objects.filter(account=account).values_list("amount", flat=True).first() or Decimal(0)


def test_a_fee_on_an_account_with_no_cash_is_raised_then_debited_once_the_sales_settle(alice, invested):
    run = _approve(alice)
    charge = run.charges.get(account=invested)
    assert charge.amount == Decimal("24.66")
    assert charge.status == FeeCharge.Status.AWAITING_CASH
    assert run.total == Decimal("0")  # nothing debited yet
    proposal = charge.proposal
    assert proposal.status == RebalanceProposal.Status.APPROVED
    sells = list(proposal.trades.all())
    assert sells and {t.side for t in sells} == {"sell"}
    assert all(t.quantity == t.quantity.to_integral_value() for t in sells)  # whole shares
    proceeds = sum(t.estimated_amount for t in sells)
    assert proceeds >= Decimal("24.66")
    assert not JournalEntry.objects.filter(kind=JournalEntry.Kind.FEE).exists()

    _fill_all(proposal)
    # Filled, not settled: the settlement step of the fill day debits nothing.
    outcome = settlement_step(business_date=proposal.as_of, acting_user=system_user())
    assert outcome.counts.get("fees_debited", 0) == 0
    charge.refresh_from_db()
    assert charge.status == FeeCharge.Status.AWAITING_CASH

    outcome = settlement_step(business_date=add_business_days(proposal.as_of, 1), acting_user=system_user())
    assert outcome.counts["fees_debited"] == 1
    charge.refresh_from_db()
    run.refresh_from_db()
    assert (charge.status, charge.error) == (FeeCharge.Status.DEBITED, "")
    assert run.total == Decimal("24.66")
    assert _cash(invested) == proceeds - Decimal("24.66")
    income = ledger.system_book(LedgerBook.Kind.FEES_INCOME, firm=alice.firm)
    assert ledger.book_balance(income) == Decimal("24.66")
    # Once: the next night's step debits nothing again.
    settlement_step(business_date=add_business_days(proposal.as_of, 2), acting_user=system_user())
    assert JournalEntry.objects.filter(kind=JournalEntry.Kind.FEE).count() == 1
    assert ledger.verify() == []


def test_a_fee_whose_sales_are_cancelled_is_not_debited_and_says_why(alice, invested):
    charge = _approve(alice).charges.get(account=invested)
    for order in Order.objects.filter(proposal=charge.proposal):
        trading.order_cancel(order=order, acting_user=system_user())
    assert services.fee_charges_release(acting_user=system_user()) == {"fees_debited": 0, "fees_failed": 1}
    charge.refresh_from_db()
    assert charge.status == FeeCharge.Status.FAILED
    assert charge.error.startswith("The sales left 0.00 USD to pay out, short of 24.66 USD")
    assert not JournalEntry.objects.filter(kind=JournalEntry.Kind.FEE).exists()


def test_a_fee_larger_than_the_account_is_not_debited_and_nothing_is_sold(alice, alice_household, invested):
    poor = account_with(alice_household, opened_on=date(2024, 1, 2), model=invested.model)
    valuations(poor, dict.fromkeys(weekdays(date(2024, 12, 20), Q1[1]), Decimal(10_000)))
    charge = _approve(alice).charges.get(account=poor)
    assert charge.status == FeeCharge.Status.FAILED
    assert "more than the account is worth (0.00 USD)" in charge.error
    assert not RebalanceProposal.objects.filter(account=poor).exists()


def test_the_drift_scan_leaves_an_account_raising_cash_alone(alice, invested):
    from operations.stages import _modelled_accounts

    assert invested.pk in _modelled_accounts(date.today())
    _approve(alice)
    assert invested.pk not in _modelled_accounts(date.today() + timedelta(days=1))
