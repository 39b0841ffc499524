"""Block orders: one security's orders across accounts sent as one, allocated back pro rata."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolios.engine.allocation import AllocationError, allocate_block, largest_remainder
from portfolios.models import CashBalance, Position, TaxLot
from tests.trading.factories import account_with
from trading import services
from trading.errors import TradingError
from trading.models import BlockOrder, Execution, Order, OutboxMessage

D = Decimal


def _fill(block, execution_id, quantity, price, event_id=None):
    return services.webhook_event_apply(
        event={
            "id": event_id or f"evt-{execution_id}",
            "type": "order.fill",
            "data": {
                "client_order_id": block.client_order_id,
                "execution_id": execution_id,
                "quantity": quantity,
                "price": price,
                "trade_date": "2026-12-01",
            },
        }
    )


@pytest.fixture
def three_buys(alice, alice_household, securities):
    """Three accounts of the firm each buying 400 VTI (approved, queued, not sent)."""
    accounts = [account_with(alice_household, cash="100000.00") for _ in range(3)]
    orders = [
        services.order_create(
            account=a, security="VTI", side="buy", quantity=D("400"), acting_user=alice.user, source="advisor"
        )
        for a in accounts
    ]
    return accounts, orders


# --- the arithmetic (pure) ---------------------------------------------------------------


def test_largest_remainder_gives_the_leftover_to_the_largest_remainders_then_the_smaller_key():
    assert largest_remainder(1000, [(3, D(400)), (1, D(400)), (2, D(400))]) == {1: 334, 2: 333, 3: 333}
    assert largest_remainder(10, [(1, D(1)), (2, D(2)), (3, D(3))]) == {1: 2, 2: 3, 3: 5}  # 1.67, 3.33, 5


def test_a_fill_larger_than_the_block_is_refused_by_the_engine():
    with pytest.raises(AllocationError):
        allocate_block(ordered=[(1, D(10))], fills=[(D(11), D(1))])


@given(
    ordered=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=8),
    parts=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=3000), st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=4)
        ),
        min_size=1,
        max_size=4,
    ),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_allocations_sum_exactly_to_the_fill_in_shares_and_cash(ordered, parts):
    total_ordered = sum(ordered)
    fills, left = [], total_ordered
    for quantity, price in parts:
        quantity = min(quantity, left)
        if quantity:
            fills.append((D(quantity), price))
            left -= quantity
    result = allocate_block(ordered=[(i, D(q)) for i, q in enumerate(ordered)], fills=fills)
    filled = sum((q for q, _ in fills), D(0))
    total = sum(((q * p).quantize(D("0.01")) for q, p in fills), D(0))
    assert sum(a.quantity for a in result.allocations) == filled
    assert sum(a.amount for a in result.allocations) == total == result.total_amount
    for (key, want), allocation in zip(enumerate(ordered), result.allocations, strict=True):
        assert allocation.key == key
        assert allocation.quantity == allocation.quantity.to_integral_value() <= want
        # Pro rata within one share, cash within one cent of shares x the exact average price.
        assert abs(allocation.quantity - filled * want / total_ordered) < 1
        assert abs(allocation.amount - total * allocation.quantity / filled) < D("0.01")


# --- the service path ---------------------------------------------------------------------


def test_orders_of_one_security_across_accounts_go_as_one_block(alice, three_buys):
    accounts, orders = three_buys
    [block] = services.block_orders_create(acting_user=alice.user)
    assert block.quantity == D("1200") and block.side == "buy" and block.security.symbol == "VTI"
    assert {o.block_id for o in Order.objects.filter(pk__in=[o.pk for o in orders])} == {block.pk}
    # The children's submissions will never go out; the block's one message will.
    assert set(OutboxMessage.objects.filter(order__in=orders).values_list("status", flat=True)) == {"skipped"}
    assert OutboxMessage.objects.get(block=block).status == "pending"
    # Asking again blocks nothing twice.
    assert services.block_orders_create(acting_user=alice.user) == []


def test_one_account_alone_makes_no_block(alice, alice_household, securities):
    account = account_with(alice_household, cash="5000.00")
    services.order_create(
        account=account, security="VTI", side="buy", quantity=D("5"), acting_user=alice.user, source="advisor"
    )
    assert services.block_orders_create(acting_user=alice.user) == []


def test_a_block_of_1000_shares_filled_at_two_prices_is_allocated_by_largest_remainder_to_the_cent(alice, three_buys):
    """Ordered 400 + 400 + 400; the custodian fills 600 @ 25.10 and 400 @ 25.13, then cancels the rest.

    By hand: total cash 600 x 25.10 + 400 x 25.13 = 15,060.00 + 10,052.00 = 25,112.00; average 25.112.
    Shares: 1000 x 400/1200 = 333.33 each -> 333 each, the one left to the tie's smaller order id -> 334/333/333.
    Cash in cents: 2,511,200 x 334/1000 = 838,740.8 and x 333/1000 = 836,229.6 (twice): floors sum to
    2,511,198, the two cents left go to the remainders .8 (first) and .6 (second, the smaller id).
    -> 8,387.41 / 8,362.30 / 8,362.29, summing to 25,112.00."""
    accounts, orders = three_buys
    [block] = services.block_orders_create(acting_user=alice.user)
    assert _fill(block, "X1", "600", "25.10") == "applied"
    assert _fill(block, "X2", "400", "25.13") == "applied"
    assert not Execution.objects.exists()  # nothing booked before the block ends
    services.webhook_event_apply(
        event={"id": "evt-c", "type": "order.cancelled", "data": {"client_order_id": block.client_order_id}}
    )
    block.refresh_from_db()
    assert block.status == "cancelled" and block.average_price == D("25.112") and block.filled_amount == D("25112.00")
    got = []
    for account, order in zip(accounts, orders, strict=True):
        order.refresh_from_db()
        execution = order.executions.get()
        got.append((order.filled_quantity, execution.amount, execution.price, order.status))
        assert Position.objects.get(account=account, security__symbol="VTI").quantity == order.filled_quantity
        assert CashBalance.objects.get(account=account).amount == D("100000.00") - execution.amount
        assert TaxLot.objects.get(account=account).cost_per_share == D("25.112")
    assert got == [
        (D("334"), D("8387.41"), D("25.112"), "cancelled"),
        (D("333"), D("8362.30"), D("25.112"), "cancelled"),
        (D("333"), D("8362.29"), D("25.112"), "cancelled"),
    ]
    assert sum(a for _, a, _, _ in got) == D("25112.00")


def test_a_filled_block_fills_every_order_and_a_replayed_fill_books_nothing_twice(alice, three_buys):
    accounts, orders = three_buys
    [block] = services.block_orders_create(acting_user=alice.user)
    _fill(block, "X1", "700", "25.00")
    assert _fill(block, "X1", "700", "25.00", event_id="evt-again") == "duplicate fill"
    _fill(block, "X2", "500", "25.01")
    assert (
        services.webhook_event_apply(
            event={
                "id": "evt-X2",
                "type": "order.fill",
                "data": {
                    "client_order_id": block.client_order_id,
                    "execution_id": "X2",
                    "quantity": "500",
                    "price": "25.01",
                },
            }
        )
        == "duplicate"
    )
    block.refresh_from_db()
    assert block.status == "filled"
    assert [o.status for o in Order.objects.filter(block=block).order_by("id")] == ["filled"] * 3
    assert Execution.objects.count() == 3
    with pytest.raises(TradingError):
        _fill(block, "X3", "1", "25.00")


def test_the_relay_sends_the_block_once_and_marks_its_orders_submitted(alice, three_buys, sandbox):
    accounts, orders = three_buys
    [block] = services.block_orders_create(acting_user=alice.user)
    sandbox.sandbox.options.hold = True
    result = sandbox.relay()
    assert result.sent == 1 and sandbox.sandbox.order_count() == 1
    block.refresh_from_db()
    assert block.status == "submitted" and block.custodian_order_id
    assert {o.status for o in Order.objects.filter(block=block)} == {"submitted"}
    assert sandbox.relay().sent == 0  # nothing left to send, nothing sent twice


def test_an_order_in_a_block_cannot_be_cancelled_alone(alice, three_buys):
    accounts, orders = three_buys
    services.block_orders_create(acting_user=alice.user)
    with pytest.raises(TradingError, match="block order"):
        services.order_cancel(order=orders[0], acting_user=alice.user)
    assert BlockOrder.objects.get().status == "approved"


def test_an_unreachable_custodian_leaves_the_block_queued_with_one_attempt(alice, three_buys):
    from trading.adapters.custodian import CustodianError

    class Down:
        def submit_order(self, request):
            raise CustodianError("connection refused")

    [block] = services.block_orders_create(acting_user=alice.user)
    result = services.relay_outbox(custodian=Down(), acting_user=alice.user)
    assert result.retried == 1 and result.sent == 0
    message = OutboxMessage.objects.get(block=block)
    assert (message.status, message.attempts) == ("pending", 1)
    block.refresh_from_db()
    assert block.status == "approved"
    assert {o.status for o in Order.objects.filter(block=block)} == {"approved"}
