from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from portfolios.models import CashBalance, Position, TaxLot
from trading import services
from trading.checks import PRETRADE_CHECKS
from trading.errors import TradingError
from trading.lifecycle import check_transition
from trading.models import Execution, Order, OrderCheck, OutboxMessage
from trading.services.common import add_business_days

pytestmark = pytest.mark.django_db
D = Decimal


@dataclass
class Result:
    rule: str
    outcome: str
    hard: bool
    message: str


def hard_fail(intent):
    return [
        Result("kyc", "pass", True, "ok"),
        Result("restricted", "fail", True, f"{intent.security.symbol} is restricted."),
    ]


def soft_fail(intent):
    return [Result("concentration", "fail", False, "Too concentrated.")]


def _buy(account, user, **kw):
    kw.setdefault("quantity", D("10"))
    return services.order_create(account=account, security="AAPL", side="buy", acting_user=user, source="advisor", **kw)


def cash(account):
    return CashBalance.objects.get(account=account).amount


def test_it_approves_an_order_and_queues_its_submission(advisor_account, alice):
    order = _buy(advisor_account, alice.user)
    assert order.status == "approved"
    assert order.reserved_amount == D("1500.00")
    assert OutboxMessage.objects.filter(order=order, kind="submit_order", status="pending").count() == 1
    assert order.history.first().history_user == alice.user


def test_a_hard_check_failure_rejects_with_the_reasons(advisor_account, alice, settings, override_checks):
    override_checks(PRETRADE_CHECKS, hard_fail)
    order = _buy(advisor_account, alice.user)
    assert order.status == "rejected"
    assert "AAPL is restricted." in order.status_reason
    assert list(OrderCheck.objects.filter(order=order).values_list("rule", "outcome")) == [
        ("kyc", "pass"),
        ("restricted", "fail"),
    ]
    assert not OutboxMessage.objects.exists()


def test_a_soft_failure_goes_to_review_and_compliance_decides(advisor_account, alice, settings, override_checks):
    override_checks(PRETRADE_CHECKS, soft_fail)
    order = _buy(advisor_account, alice.user)
    assert order.status == "pending_review"
    assert not OutboxMessage.objects.exists()
    order = services.order_review_decide(order=order, approve=True, acting_user=alice.user, note="fine")
    assert order.status == "approved"
    assert OutboxMessage.objects.filter(order=order).count() == 1
    with pytest.raises(TradingError, match="not waiting for review"):
        services.order_review_decide(order=order, approve=False, acting_user=alice.user)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"quantity": D("0")}, "more than zero"),
        ({"quantity": D("-5")}, "more than zero"),
        ({"quantity": D("NaN")}, "must be a number"),
        ({"quantity": D("Infinity")}, "must be a number"),
        ({"quantity": D("1e30")}, "too large"),
        ({"quantity": D("1.0000000001")}, "9 decimal places"),
        ({"quantity": None, "amount": D("10.001")}, "2 decimal places"),
        ({"quantity": D("1"), "amount": D("10")}, "not both"),
        ({"order_type": "limit"}, "limit price"),
        ({"quantity": D("1000")}, "Not enough cash"),
    ],
)
def test_bad_order_input_is_refused_and_nothing_changes(advisor_account, alice, kwargs, message):
    with pytest.raises(TradingError, match=message):
        _buy(advisor_account, alice.user, **kwargs)
    assert not Order.objects.exists()


def test_unknown_symbols_and_selling_more_than_held_are_refused(advisor_account, alice):
    with pytest.raises(TradingError, match="Unknown symbol"):
        services.order_create(
            account=advisor_account,
            security="NOPE",
            side="buy",
            quantity=D("1"),
            acting_user=alice.user,
            source="advisor",
        )
    with pytest.raises(TradingError, match="Not enough AAPL"):
        services.order_create(
            account=advisor_account,
            security="AAPL",
            side="sell",
            quantity=D("101"),
            acting_user=alice.user,
            source="advisor",
        )
    services.order_create(
        account=advisor_account,
        security="AAPL",
        side="sell",
        quantity=D("60"),
        acting_user=alice.user,
        source="advisor",
    )
    with pytest.raises(TradingError, match="Not enough AAPL"):
        services.order_create(
            account=advisor_account,
            security="AAPL",
            side="sell",
            quantity=D("41"),
            acting_user=alice.user,
            source="advisor",
        )
    assert Order.objects.count() == 1


def test_open_buys_reserve_cash(advisor_account, alice):
    _buy(advisor_account, alice.user, quantity=D("60"))  # 9,000 of 10,000
    with pytest.raises(TradingError, match="1,000.00 is available"):
        _buy(advisor_account, alice.user, quantity=D("7"))


def test_the_same_idempotency_key_makes_one_order(advisor_account, alice):
    first = _buy(advisor_account, alice.user, idempotency_key="k1")
    again = _buy(advisor_account, alice.user, idempotency_key="k1")
    assert first.pk == again.pk
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    "current, target",
    [("draft", "filled"), ("filled", "cancelled"), ("rejected", "approved"), ("approved", "partially_filled")],
)
def test_illegal_transitions_are_refused(current, target):
    with pytest.raises(TradingError):
        check_transition(current, target)


def test_a_filled_order_cannot_be_cancelled(advisor_account, alice, sandbox):
    order = _buy(advisor_account, alice.user)
    sandbox.relay()
    sandbox.deliver()
    order.refresh_from_db()
    assert order.status == "filled"
    with pytest.raises(TradingError, match="already filled"):
        services.order_cancel(order=order, acting_user=alice.user)


def test_an_order_not_yet_sent_is_cancelled_and_never_sent(advisor_account, alice, sandbox):
    order = _buy(advisor_account, alice.user)
    services.order_cancel(order=order, acting_user=alice.user)
    sandbox.relay()
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert sandbox.sandbox.order_count() == 0
    assert OutboxMessage.objects.get(order=order).status == "skipped"


def test_an_order_at_the_custodian_is_cancelled_when_it_confirms(advisor_account, alice, sandbox):
    sandbox.sandbox.options.hold = True
    order = _buy(advisor_account, alice.user)
    sandbox.relay()
    order.refresh_from_db()
    assert order.status == "submitted"
    services.order_cancel(order=order, acting_user=alice.user)
    sandbox.relay()
    sandbox.deliver()
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert cash(advisor_account) == D("10000.00")


def test_a_buy_fills_moves_shares_and_cash_and_opens_a_lot(advisor_account, alice, sandbox):
    order = _buy(advisor_account, alice.user)
    result = sandbox.relay()
    assert result.sent == 1
    order.refresh_from_db()
    assert order.status == "submitted" and order.custodian_order_id
    assert sandbox.deliver() == 1
    order.refresh_from_db()
    assert order.status == "filled"
    assert order.filled_quantity == D("10") and order.average_price == D("150")
    assert Position.objects.get(account=advisor_account, security__symbol="AAPL").quantity == D("110")
    assert cash(advisor_account) == D("8500.00")
    assert TaxLot.objects.filter(account=advisor_account, cost_per_share=D("150"), quantity=D("10")).exists()


def test_a_sell_relieves_the_highest_cost_lots_and_records_the_gain(alice_household, alice, sandbox, securities):
    from tests.trading.factories import account_with

    account = account_with(alice_household, cash="1.00", positions=[("AAPL", "10", "100"), ("AAPL", "0.5", "140")])
    order = services.order_create(
        account=account, security="AAPL", side="sell", quantity=D("5"), acting_user=alice.user, source="advisor"
    )
    sandbox.relay()
    sandbox.deliver()
    order.refresh_from_db()
    assert order.status == "filled"
    # 0.5 @ 140 first (gain 5.00), then 4.5 @ 100 (gain 225.00)
    assert order.realised_gain == D("230.00")
    assert cash(account) == D("751.00")


def test_partial_fills_in_any_order_end_filled_once(advisor_account, alice, sandbox):
    sandbox.sandbox.options.partial_fills = True
    sandbox.sandbox.options.reorder = True
    sandbox.sandbox.options.duplicate_rate = 1.0
    order = _buy(advisor_account, alice.user, quantity=D("7"))
    sandbox.relay()
    sandbox.deliver()
    order.refresh_from_db()
    assert order.status == "filled"
    assert order.executions.count() == 2
    assert order.filled_quantity == D("7")
    assert cash(advisor_account) == D("10000.00") - D("1050.00")


def test_an_amount_order_buys_what_the_amount_buys(advisor_account, alice, sandbox):
    sandbox.sandbox.options.hold = False
    order = _buy(advisor_account, alice.user, quantity=None, amount=D("1000.00"))
    assert order.reserved_amount == D("1000.00")
    sandbox.relay()
    sandbox.deliver()
    order.refresh_from_db()
    assert order.status == "filled"
    assert order.quantity == D("6.666666666")
    assert cash(advisor_account) == D("9000.00")


def test_a_resend_after_a_crash_between_send_and_commit_fills_once(advisor_account, alice, sandbox, monkeypatch):
    order = _buy(advisor_account, alice.user)
    from trading.services import outbox

    real = outbox._mark_sent

    def crash(*args, **kwargs):
        raise SystemExit("worker died")

    monkeypatch.setattr(outbox, "_mark_sent", crash)
    with pytest.raises(SystemExit):
        sandbox.relay()
    assert OutboxMessage.objects.get(order=order).status == "pending"
    monkeypatch.setattr(outbox, "_mark_sent", real)
    assert sandbox.relay().sent == 1
    assert sandbox.sandbox.stats.duplicates_deduped == 1
    sandbox.deliver()
    order.refresh_from_db()
    assert order.status == "filled" and order.executions.count() == 1
    assert sandbox.sandbox.order_count() == 1


def test_a_custodian_outage_is_retried_with_backoff(advisor_account, alice, sandbox):
    order = _buy(advisor_account, alice.user)
    sandbox.sandbox.options.fail_rate = 1.0
    result = sandbox.relay()
    assert result.retried == 1
    message = OutboxMessage.objects.get(order=order)
    assert message.status == "pending" and message.attempts == 1 and message.next_attempt_at > order.created_at
    assert sandbox.relay().sent == 0  # not due yet
    sandbox.sandbox.options.fail_rate = 0
    from datetime import timedelta

    from django.utils import timezone

    assert sandbox.relay(now=timezone.now() + timedelta(minutes=5)).sent == 1
    sandbox.deliver()
    order.refresh_from_db()
    assert order.status == "filled"


def test_fills_settle_t_plus_one_business_day_once(advisor_account, alice, sandbox):
    order = _buy(advisor_account, alice.user)
    sandbox.relay()
    sandbox.deliver()
    execution = Execution.objects.get(order=order)
    assert execution.settle_date == add_business_days(execution.trade_date, 1)
    assert services.settlement_run(as_of=execution.trade_date) == 0
    assert services.settlement_run(as_of=execution.settle_date) == 1
    assert services.settlement_run(as_of=execution.settle_date) == 0
    execution.refresh_from_db()
    assert execution.settled_at is not None and execution.settlement_entry is not None


def test_settlement_posts_a_batch_of_fills_in_fixed_queries_each_once(
    advisor_account, alice, sandbox, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portfolios import ledger

    def settle(count: int) -> tuple[int, list[Execution]]:
        orders = [_buy(advisor_account, alice.user, quantity=Decimal(n + 1)) for n in range(count)]
        sandbox.relay()
        sandbox.deliver()
        executions = list(Execution.objects.filter(order__in=orders).order_by("id"))
        with CaptureQueriesContext(connection) as queries:
            assert services.settlement_run(as_of=executions[0].settle_date) == count
        return len(queries.captured_queries), executions

    few, _ = settle(2)
    many, executions = settle(6)
    assert many == few
    for execution in executions:
        execution.refresh_from_db()
        entry = execution.settlement_entry
        assert entry.kind == "settlement" and entry.idempotency_key == f"settle:{execution.execution_id}"
        assert sorted(p.quantity for p in entry.postings.all()) == [-execution.amount, execution.amount]
    assert services.settlement_run(as_of=executions[0].settle_date) == 0
    assert ledger.verify() == []


def test_business_days_skip_weekends():
    assert add_business_days(date(2026, 1, 2), 1) == date(2026, 1, 5)  # Friday -> Monday
    assert add_business_days(date(2026, 1, 5), 1) == date(2026, 1, 6)
