"""Issue 12: a fill is booked only within its order. A signed fill beyond the order's remaining
quantity, or for an order that has ended, is refused (422), recorded as a FillAnomaly for
operations (with history, on the operations page) and books nothing; numbers that do not fit
(1e30, 1e-20, NaN, Infinity, negative, too many places, full-width digits) are a 400, never a 500."""

from decimal import Decimal as D

import pytest

from portfolios.models import CashBalance, Position
from tests.accounts.factories import UserFactory
from tests.trading.factories import fill, post
from trading import services
from trading.errors import TradingError
from trading.models import Execution, FillAnomaly, Order, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def submitted(advisor_account, alice):
    order = services.order_create(
        account=advisor_account, security="AAPL", side="buy", quantity=D("10"), acting_user=alice.user, source="advisor"
    )
    return services.order_transition(order, "submitted", acting_user=alice.user)


def shares(account, symbol="AAPL"):
    return Position.objects.get(account=account, security__symbol=symbol).quantity


def cash(account):
    return CashBalance.objects.get(account=account).amount


def test_a_fill_beyond_a_filled_order_is_refused_recorded_and_books_nothing(client, submitted, advisor_account):
    assert post(client, fill(submitted, event_id="e1", execution_id="X1", quantity="10")).json() == {
        "result": "applied"
    }
    held, left = shares(advisor_account), cash(advisor_account)
    assert held == D("110")

    answer = post(client, fill(submitted, event_id="e2", execution_id="X2", quantity="5"))

    assert answer.status_code == 422 and answer.json()["result"] == "refused"
    submitted.refresh_from_db()
    assert submitted.status == "filled" and submitted.filled_quantity == D("10")
    assert shares(advisor_account) == held and cash(advisor_account) == left
    assert list(Execution.objects.values_list("execution_id", flat=True)) == ["X1"]
    anomaly = FillAnomaly.objects.get()
    assert (anomaly.reason, anomaly.execution_id, anomaly.quantity, anomaly.filled_before) == (
        "order_ended",
        "X2",
        D("5"),
        D("10"),
    )
    assert anomaly.order_status == "filled" and anomaly.status == "open"
    assert anomaly.history.count() == 1 and anomaly.history.get().history_user is not None


def test_a_partial_fill_beyond_the_remaining_quantity_is_refused(client, submitted, advisor_account):
    post(client, fill(submitted, event_id="e1", execution_id="X1", quantity="6"))
    answer = post(client, fill(submitted, event_id="e2", execution_id="X2", quantity="6"))

    assert answer.status_code == 422
    submitted.refresh_from_db()
    assert submitted.status == "partially_filled" and submitted.filled_quantity == D("6")
    assert shares(advisor_account) == D("106")
    anomaly = FillAnomaly.objects.get()
    assert anomaly.reason == "overfill" and "exceed the 4 remaining of 10 ordered" in anomaly.detail
    # The rest of the order still fills.
    assert post(client, fill(submitted, event_id="e3", execution_id="X3", quantity="4")).status_code == 200
    submitted.refresh_from_db()
    assert submitted.status == "filled" and shares(advisor_account) == D("110")


def test_an_amount_order_is_held_to_the_quantity_the_custodian_reports(client, advisor_account, alice):
    order = services.order_create(
        account=advisor_account, security="AAPL", side="buy", amount=D("1500.00"), acting_user=alice.user, source="api"
    )
    order = services.order_transition(order, "submitted", acting_user=alice.user)
    answer = post(client, fill(order, event_id="e1", execution_id="X1", quantity="11", order_quantity="10"))
    assert answer.status_code == 422 and FillAnomaly.objects.get().reason == "overfill"
    assert not Execution.objects.exists()


def test_a_fill_for_a_cancelled_order_is_refused(client, submitted, advisor_account, alice):
    before = cash(advisor_account)
    post(client, {"id": "c1", "type": "order.cancelled", "data": {"client_order_id": submitted.client_order_id}})
    answer = post(client, fill(submitted, event_id="e1", execution_id="X1", quantity="10"))

    assert answer.status_code == 422
    submitted.refresh_from_db()
    assert submitted.status == "cancelled" and submitted.filled_quantity == 0
    assert shares(advisor_account) == D("100") and cash(advisor_account) == before
    assert FillAnomaly.objects.get().reason == "order_ended"


def test_a_refused_fill_redelivered_is_recorded_once(client, submitted):
    post(client, fill(submitted, event_id="e1", execution_id="X1", quantity="10"))
    post(client, fill(submitted, event_id="e2", execution_id="X2", quantity="5"))
    assert post(client, fill(submitted, event_id="e2", execution_id="X2", quantity="5")).json() == {
        "result": "duplicate"
    }
    assert post(client, fill(submitted, event_id="e3", execution_id="X2", quantity="5")).status_code == 422
    assert FillAnomaly.objects.count() == 1 and Execution.objects.count() == 1


def test_execution_apply_refuses_an_overfill_too(submitted):
    from django.utils import timezone

    def one(execution_id, quantity):
        return services.execution_apply(
            fill=services.Fill(
                client_order_id=submitted.client_order_id,
                execution_id=execution_id,
                quantity=D(quantity),
                price=D("150"),
                trade_date=timezone.localdate(),
            ),
            acting_user=submitted.created_by,
        )

    one("X1", "10")
    with pytest.raises(services.FillRefused) as refused:
        one("X2", "1")
    assert refused.value.anomaly.pk == FillAnomaly.objects.get().pk
    assert Execution.objects.count() == 1


def test_operations_see_the_refused_fill_and_resolve_it(client, verified_client, submitted, alice):
    post(client, fill(submitted, event_id="e1", execution_id="X1", quantity="10"))
    post(client, fill(submitted, event_id="e2", execution_id="X-OVER-2", quantity="5"))
    ops = UserFactory(email="ops@example.com", roles=["operations"], firm=alice.firm)
    page = verified_client(ops).get("/operations/")
    assert page.status_code == 200
    assert b"Refused fills" in page.content and b"X-OVER-2" in page.content

    anomaly = FillAnomaly.objects.get()
    with pytest.raises(TradingError):
        services.fill_anomaly_resolve(anomaly=anomaly, acting_user=ops, note=" ")
    services.fill_anomaly_resolve(anomaly=anomaly, acting_user=ops, note="Custodian busted the duplicate fill.")
    anomaly.refresh_from_db()
    assert anomaly.status == "resolved" and anomaly.resolved_by == ops
    assert list(anomaly.history.order_by("history_id").values_list("status", "history_user")) == [
        ("open", anomaly.history.earliest("history_id").history_user_id),
        ("resolved", ops.pk),
    ]


def test_another_firms_operations_do_not_see_the_refused_fill(client, verified_client, submitted):
    from tests.accounts.factories import FirmFactory

    post(client, fill(submitted, event_id="e1", execution_id="X1", quantity="10"))
    post(client, fill(submitted, event_id="e2", execution_id="X-OVER-2", quantity="5"))
    stranger = UserFactory(email="ops@other.example", roles=["operations"], firm=FirmFactory())
    page = verified_client(stranger).get("/operations/")
    assert page.status_code == 200 and b"X-OVER-2" not in page.content


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", "1e30"),
        ("quantity", "1e-20"),
        ("quantity", "NaN"),
        ("quantity", "Infinity"),
        ("quantity", "-Infinity"),
        ("quantity", "-5"),
        ("quantity", "0"),
        ("quantity", "1.0000000001"),
        ("quantity", "１０"),
        ("quantity", 1e30),
        ("quantity", True),
        ("quantity", ["1"]),
        ("price", "1e20"),
        ("price", "1e-20"),
        ("price", "150.0000001"),
        ("order_quantity", "1e30"),
    ],
)
def test_numbers_that_do_not_fit_are_a_400_and_recorded_nowhere(client, submitted, field, value):
    event = fill(submitted, event_id="bad", execution_id="XB", quantity="1", order_quantity="10")
    event["data"][field] = value
    answer = post(client, event)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["detail"] or "decimal" in answer.json()["detail"]
    assert not WebhookEvent.objects.exists() and not Execution.objects.exists() and not FillAnomaly.objects.exists()
    assert Order.objects.get().status == "submitted"


def test_a_fill_too_large_in_cash_is_a_400(client, submitted):
    answer = post(client, fill(submitted, event_id="big", execution_id="XB", quantity="9999999999", price="9999999"))
    assert answer.status_code == 400
    assert not Execution.objects.exists()


def test_a_fill_books_in_a_fixed_number_of_statements(client, submitted, advisor_account, django_assert_num_queries):
    """The hot path of a firm's day (issue 13: a year of fills): the webhook's fill takes one
    statement per row it writes plus the locks and reads it needs, not one per book or lot."""
    assert post(client, fill(submitted, event_id="evt-q1", execution_id="X-Q1", quantity="4")).status_code == 200
    # 28 in a test's transaction (two of them its savepoint): the system user; the event recorded;
    # the order and account locked (the account's model joined); the execution and refusal looked
    # up (one statement); the three books in one read; the entry and postings with their history
    # (no idempotency read, savepoint or second account lock: the order's lock covers them); each
    # balance moved in one UPDATE ... RETURNING with its history; the account's kept figures
    # refreshed (2: its records in one statement, the upsert); the lot; the household's loss
    # sales looked at (1: none to match, so no purchases read); the execution; the order's sums
    # (read: not its first fill) and its update; two events; the event's result.
    with django_assert_num_queries(28):
        response = post(client, fill(submitted, event_id="evt-q2", execution_id="X-Q2", quantity="6"))
    assert response.status_code == 200
    submitted.refresh_from_db()
    assert (submitted.status, submitted.filled_quantity, shares(advisor_account)) == (
        "filled",
        D("10"),
        D("110"),
    )  # it held 100
