"""Operations' events: fee.charged from billing approval, statement.ready from reconciliation."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Event
from accounts.services import system_user
from operations import services
from portfolios.services import transfer_in
from tests.operations.test_billing import Q1, _account, flat  # noqa: F401
from tests.operations.test_reconciliation import DAY, _reconcile, book, custodian, sandbox  # noqa: F401

pytestmark = pytest.mark.django_db


def test_billing_approval_emits_fee_charged_for_debits_and_refusals(alice, alice_household, flat):  # noqa: F811
    services.fee_schedule_assign(household=alice_household, schedule=flat, acting_user=system_user())
    paid = _account(alice_household, value=Decimal(1_000_000))
    transfer_in(
        account=paid, acting_user=system_user(), idempotency_key="cash", cash=Decimal("5000.00"), effective_date=Q1[0]
    )
    poor = _account(alice_household, value=Decimal(1_000_000))
    run = services.billing_run_preview(firm=alice.firm, period_start=Q1[0], acting_user=system_user())
    assert not Event.objects.filter(kind="fee.charged").exists()  # a preview charges nothing
    services.billing_run_approve(run=run, acting_user=system_user(), effective_date=date(2025, 4, 2))
    events = {e.account_id: e for e in Event.objects.filter(kind="fee.charged")}
    assert set(events) == {paid.pk, poor.pk}
    assert events[paid.pk].payload["status"] == "debited"
    assert events[paid.pk].payload["amount"] == {"amount": "2465.75", "currency": "USD"}
    assert events[poor.pk].payload["status"] == "failed" and "cash" in events[poor.pk].payload["error"]
    assert all(e.household_id == alice_household.pk and e.firm_id == alice.firm_id for e in events.values())


def test_reconciliation_emits_statement_ready_per_account_with_its_breaks(book, sandbox, custodian):  # noqa: F811
    from tests.operations.book import inject

    inject(sandbox, book.accounts[0], "VTI", Decimal("-5"), day=DAY)
    _reconcile(book, custodian)
    events = {e.account_id: e.payload for e in Event.objects.filter(kind="statement.ready")}
    assert set(events) == {a.pk for a in book.accounts}
    assert events[book.accounts[0].pk] == {"account": book.accounts[0].pk, "business_date": "2025-03-17", "breaks": 1}
    assert all(p["breaks"] == 0 for pk, p in events.items() if pk != book.accounts[0].pk)
