"""The fan-out: each event kind notifies the users it concerns, by role and scope, and nobody
else (another firm, another household, a role that should not hear of it); once per event and
user however often the event is handed over."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Event
from accounts.services import event_emit, events_publish
from notifications.models import Notification
from notifications.services import notifications_fan_out, notifications_fan_out_again
from tests.notifications.conftest import emit_for_account, publish, told

pytestmark = pytest.mark.django_db

ADVISORS_AND_STAFF = {"alice@example.com", "bob@example.com", "cora@example.com", "otto@example.com"}


def order_payload(**over):
    return {
        "order": 7,
        "symbol": "VTI",
        "side": "buy",
        "quantity": "5",
        "amount": None,
        "status": "submitted",
        "status_reason": "",
        **over,
    }


def test_a_drift_breach_tells_the_accounts_advisor_only(firms):
    emit_for_account(
        "drift.breached",
        firms.alice_account,
        {
            "proposal": None,
            "as_of": "2026-12-02",
            "max_drift": "0.0612",
            "breaches": [{"symbol": "VTI", "drift": "0.0612", "band": "0.05"}],
        },
    )
    publish()
    assert told() == {"alice@example.com"}
    n = Notification.objects.get()
    assert n.kind == "drift_breach"
    assert n.title == "Drift breach: Alvarez Joint"
    assert "VTI +6.1 points" in n.body
    assert n.url == f"/accounts/{firms.alice_account.pk}/"


def test_a_proposal_awaiting_approval_tells_the_advisor_but_not_for_an_automatic_account(firms):
    firms.bob_account.rebalance_mode = "automatic"
    firms.bob_account.save()
    for account in (firms.alice_account, firms.bob_account):
        emit_for_account(
            "proposal.created",
            account,
            {"proposal": 41, "status": "proposed", "trades": 3, "max_drift_before": "0.07", "estimated_cost": "0.00"},
        )
    publish()
    assert told("proposal_awaiting_approval") == {"alice@example.com"}
    n = Notification.objects.get()
    assert n.url == "/proposals/41/"
    assert n.body.startswith("3 trade(s); largest drift +7.0 points")


def test_a_fill_tells_the_advisor_and_the_households_investors_not_another_household(firms):
    emit_for_account(
        "order.filled",
        firms.alice_account,
        order_payload(
            status="filled",
            fill_quantity="5",
            fill_price="201.34",
            fill_amount={"amount": "1006.70", "currency": "USD"},
            trade_date="2026-12-02",
        ),
    )
    publish()
    assert told("order_filled") == {"alice@example.com", "charlie@example.com"}
    n = Notification.objects.filter(user=firms.charlie).get()
    assert n.title == "Filled: Buy 5 VTI"
    assert n.body == "Alvarez Joint: 5 at 201.34 (1006.7 USD) on 2026-12-02."


def test_a_rejection_tells_the_advisor_with_its_reason(firms):
    emit_for_account(
        "order.updated",
        firms.bob_account,
        order_payload(status="rejected", status_reason="Not enough cash for BND"),
    )
    publish()
    assert told() == {"bob@example.com"}
    n = Notification.objects.get()
    assert (n.kind, n.title, n.body) == (
        "order_rejected",
        "Order rejected: Buy 5 VTI",
        "Bennett IRA: Not enough cash for BND",
    )


def test_other_order_updates_tell_nobody(firms):
    for status in ("submitted", "approved", "partially_filled", "cancelled"):
        emit_for_account("order.updated", firms.alice_account, order_payload(status=status))
    publish()
    assert not Notification.objects.exists()


def test_an_order_held_for_review_tells_the_firms_compliance_officers_only(firms):
    emit_for_account("order.updated", firms.alice_account, order_payload(status="pending_review"))
    publish()
    assert told() == {"cora@example.com"}
    assert Notification.objects.get().url == "/compliance/orders/"


def test_a_review_decision_tells_the_advisor(firms):
    emit_for_account(
        "order.reviewed",
        firms.alice_account,
        order_payload(status="rejected", decision="rejected", note="Concentration"),
    )
    publish()
    assert told("review_decided") == {"alice@example.com"}
    assert Notification.objects.get(kind="review_decided").body == "Alvarez Joint: Concentration"


def kyc_event(investor, status):
    return event_emit(
        kind="kyc.updated",
        firm=investor.firm_id,
        investor=investor,
        payload={"investor": investor.pk, "verification": 1, "status": status, "provider": "sandbox"},
    )


def test_a_kyc_result_tells_the_investors_advisor_and_the_investor(firms):
    kyc_event(firms.charlie_investor, "approved")
    publish()
    assert told("kyc_aml_result") == {"alice@example.com", "charlie@example.com"}
    assert Notification.objects.get(user=firms.alice.user).title == "KYC approved: Charlie Investor"
    assert Notification.objects.get(user=firms.charlie).title == "Your identity verification was approved"


def test_a_kyc_needing_review_is_a_review_item_for_compliance_and_not_told_to_the_investor(firms):
    kyc_event(firms.charlie_investor, "needs_review")
    publish()
    assert told("review_requested") == {"cora@example.com"}
    assert told("kyc_aml_result") == {"alice@example.com"}


def test_a_pending_kyc_tells_nobody(firms):
    kyc_event(firms.charlie_investor, "pending")
    publish()
    assert not Notification.objects.exists()


def test_an_aml_case_is_for_compliance_and_the_advisor_never_the_investor(firms):
    investor = firms.charlie_investor
    event_emit(
        kind="aml.case_opened",
        firm=investor.firm_id,
        investor=investor,
        payload={"case": 5, "investor": investor.pk, "status": "open"},
    )
    event_emit(
        kind="aml.case_updated",
        firm=investor.firm_id,
        investor=investor,
        payload={"case": 5, "investor": investor.pk, "status": "cleared"},
    )
    publish()
    assert told("review_requested") == {"cora@example.com"}
    assert told("kyc_aml_result") == {"alice@example.com"}
    assert told("review_decided") == {"alice@example.com"}
    assert "charlie@example.com" not in told()
    assert Notification.objects.get(kind="review_requested").url == "/compliance/aml/5/"


def test_a_statement_ready_tells_the_households_investors(firms):
    emit_for_account(
        "statement.ready",
        firms.alice_account,
        {"statement": 3, "period_end": "2026-09-30", "url": "/api/v1/accounts/1/statements/3/pdf/"},
        subject_type="statement",
        subject_id=3,
    )
    publish()
    assert told() == {"charlie@example.com"}
    n = Notification.objects.get()
    # It leads to the portal's statement page (the payload's url is the API's PDF, for integrators).
    assert (n.kind, n.url) == ("statement_ready", "/statements/3/")
    assert (n.title, n.body) == ("Your statement is ready: Alvarez Joint", "For the period ending 2026-09-30.")


def test_a_households_performance_report_tells_its_investors_only(firms):
    event_emit(
        kind="statement.ready",
        firm=firms.bob.firm_id,
        household=firms.bob_household,
        subject_type="statement",
        subject_id=4,
        payload={"statement": 4, "period_end": "2026-09-30", "url": "https://elsewhere.example/x"},
    )
    publish()
    assert told() == {"bella@example.com"}
    n = Notification.objects.get()
    assert (n.title, n.url) == ("Your performance report is ready", "/statements/4/")  # never the payload's host


def test_the_nightly_reconciliations_statement_ready_tells_nobody(firms):
    emit_for_account(
        "statement.ready",
        firms.alice_account,
        {"business_date": "2026-12-02", "breaks": 0},
        subject_type="account",
        subject_id=firms.alice_account.pk,
    )
    publish()
    assert not Notification.objects.exists()


def test_a_failed_job_tells_every_firms_operations_staff_only(firms):
    for firm in (firms.alice.firm, firms.zed.firm):
        event_emit(
            kind="job.failed",
            firm=firm,
            payload={
                "job_run": 9,
                "job": "drift_scan",
                "business_date": "2026-12-02",
                "status": "partial",
                "failed": 2,
            },
        )
    publish()
    assert told() == {"otto@example.com", "zops@other.example"}
    n = Notification.objects.filter(user=firms.operations).get()
    assert (n.title, n.url) == ("Job partial: drift_scan 2026-12-02", "/ops/jobs/9/")


def test_another_firms_events_reach_only_that_firm(firms):
    emit_for_account("order.updated", firms.zed_account, order_payload(status="pending_review"))
    emit_for_account(
        "order.filled", firms.zed_account, order_payload(status="filled", fill_quantity="5", fill_price="1")
    )
    publish()
    assert told() == {"zcomp@other.example", "zed@other.example", "zara@other.example"}
    assert not (told() & ADVISORS_AND_STAFF)


def test_an_inactive_user_is_not_notified(firms):
    firms.alice.user.is_active = False
    firms.alice.user.save()
    emit_for_account("order.updated", firms.alice_account, order_payload(status="rejected", status_reason="x"))
    publish()
    assert not Notification.objects.exists()


# --- idempotent, and in bulk -------------------------------------------------------------------


def test_an_event_handed_over_again_notifies_nobody_twice(firms):
    event = emit_for_account("order.filled", firms.alice_account, order_payload(status="filled", fill_quantity="5"))
    publish()
    assert Notification.objects.count() == 2
    notifications_fan_out_again(event_ids=[event.pk])
    notifications_fan_out(events=[Event.objects.get(pk=event.pk)])
    events_publish()  # already published: nothing more
    assert Notification.objects.count() == 2


def test_a_batch_of_events_is_fanned_out_with_a_fixed_number_of_queries(firms):
    def fan_out(n):
        Notification.objects.all().delete()
        events = [
            emit_for_account("order.filled", account, order_payload(status="filled", fill_quantity=str(i + 1)))
            for i in range(n)
            for account in (firms.alice_account, firms.bob_account, firms.zed_account)
        ]
        with CaptureQueriesContext(connection) as ctx:
            notifications_fan_out(events=events)
        assert Notification.objects.count() == n * 6  # advisor and investor of each of the three
        return len(ctx.captured_queries)

    assert fan_out(2) == fan_out(20)


def test_a_failing_subscriber_does_not_stop_the_outbox(firms, monkeypatch):
    from notifications.services import fan_out

    def broken(event, scope):
        raise RuntimeError("a bug in a route")

    monkeypatch.setitem(fan_out.ROUTES, "order.updated", broken)
    event = emit_for_account("order.updated", firms.alice_account, order_payload(status="rejected"))
    published = events_publish()
    assert published == [event.pk]
    assert Event.objects.get(pk=event.pk).position is not None
    assert not Notification.objects.exists()


def test_the_drift_scan_emits_a_breach_for_an_account_outside_its_bands(firms):
    from tests.trading.factories import account_with, make_security, model_of
    from trading.services.proposals import proposal_create_for_accounts

    make_security("VTI", "200")
    make_security("BND", "70")
    model = model_of(firms.alice.firm, {"VTI": "0.5", "BND": "0.5"})
    inside = account_with(firms.alice_household, cash="0", positions=[("VTI", "35", "200"), ("BND", "100", "70")])
    outside = account_with(firms.alice_household, cash="0", positions=[("VTI", "50", "200"), ("BND", "40", "70")])
    for account in (inside, outside):
        account.model = model
        account.save()
    proposal_create_for_accounts(account_ids=[inside.pk, outside.pk], acting_user=firms.alice.user, scheduled=True)
    breaches = Event.objects.filter(kind="drift.breached")
    assert [e.account_id for e in breaches] == [outside.pk]
    # VTI 10,000 of 12,800 = 78.125% against 50%: +28.125 points (as a fraction, to 4 places)
    assert breaches[0].payload["breaches"][0]["symbol"] == "BND"
    assert {b["symbol"] for b in breaches[0].payload["breaches"]} == {"VTI", "BND"}
    assert Decimal(breaches[0].payload["max_drift"]) == Decimal("0.28125")
    publish()
    assert told("drift_breach") == {"alice@example.com"}


def test_a_compliance_review_decision_is_emitted_and_told_to_the_advisor(firms):
    from tests.trading.factories import make_security
    from trading import services as trading_services
    from trading.models import Order

    make_security("VTI", "200")
    order = Order.objects.create(
        account=firms.alice_account,
        security_id=make_security("BND", "70").pk,
        side="buy",
        order_type="market",
        quantity=Decimal("1"),
        estimated_price=Decimal("70"),
        status="pending_review",
        client_order_id="review-1",
        source="advisor",
        created_by=firms.alice.user,
    )
    trading_services.order_review_decide(
        order=order, approve=False, acting_user=firms.compliance, note="Too concentrated"
    )
    event = Event.objects.get(kind="order.reviewed")
    assert event.payload["decision"] == "rejected"
    assert event.payload["note"] == "Too concentrated"
    publish()
    assert told("review_decided") == {"alice@example.com"}
    assert told("order_rejected") == {"alice@example.com"}


def test_a_failed_job_run_emits_job_failed_for_each_firm(firms):
    from datetime import date

    from operations.jobs import fail_run
    from operations.models import JobRun

    run = JobRun.objects.create(job="valuations", business_date=date(2026, 12, 2))
    fail_run(run.pk, "the price feed is down")
    events = Event.objects.filter(kind="job.failed")
    assert {e.firm_id for e in events} == {firms.alice.firm_id, firms.zed.firm_id}
    assert events[0].payload["status"] == "failed"
    publish()
    assert told("job_failed") == {"otto@example.com", "zops@other.example"}
