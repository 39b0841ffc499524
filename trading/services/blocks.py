"""Block orders: one security's same-side orders across a firm's accounts sent as one order.

The guarantees of the single-order path are kept:

- **No order lost or placed twice.** Blocking happens in one transaction that locks the
  children's queued submissions (skip_locked, like the relay, so a message a relay is sending
  is simply left out of the block): the children's messages are marked skipped and the block's
  one message is written in the same commit. The block's client order id is the same on every
  retry, so the custodian dedupes a resend as it does for any order. A child of a block cannot be
  cancelled alone (its shares are part of the custodian's order).
- **Idempotent fills.** Each block fill is recorded once under its execution id
  (`BlockExecution`); the allocation books each child's share as that child's fill under the
  execution id `<block client order id>:<order id>` through `execute_fill`, which books an
  execution id once, so a replayed allocation books nothing twice.
- **Allocation** (`portfolios.engine.allocation`): when the block ends -- filled, or cancelled
  after part of it filled -- the filled shares go to the children pro rata to what each ordered,
  whole shares by largest remainder (ties to the earlier order), each booked at the block's
  average price; the cash of each is the block's total shared by largest remainder in cents, so
  the accounts' cash sums to the block's executions to the cent. A child that received less than
  it ordered is cancelled for the rest.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from kronos.history import save_attributed
from portfolios.engine.allocation import allocate_block
from trading.adapters.custodian import CustodianRejected, OrderRequest
from trading.errors import TradingError
from trading.lifecycle import OrderStatus
from trading.models import BlockExecution, BlockOrder, Order, OutboxMessage
from trading.services.common import ZERO, cents, relay_after_commit
from trading.services.fills import Fill, execute_fill
from trading.services.order_status import order_transition

S = OrderStatus
B = BlockOrder.Status
BLOCK_PREFIX = "BLK-"
#: The custodian's account for block orders: the firm's allocation account (the children's own
#: accounts receive the shares at allocation).
BLOCK_ACCOUNT_REF = "BLOCK-{firm_id}"


def is_block_order_id(client_order_id: str) -> bool:
    return client_order_id.startswith(BLOCK_PREFIX)


def _whole(quantity: Decimal | None) -> bool:
    return quantity is not None and quantity > 0 and quantity == quantity.to_integral_value()


def block_orders_create(
    *, acting_user: User, order_ids: Iterable[int] | None = None, firm_id: int | None = None
) -> list[BlockOrder]:
    """Gather approved, not yet sent market orders in whole shares into blocks: one block per
    firm, security and side that has orders of at least two accounts. `order_ids` limits the
    candidates (a bulk approval's orders), `firm_id` the firm. Orders whose submission a relay is
    sending right now are left out (skip_locked) and go alone. Returns the blocks made."""
    with transaction.atomic():
        messages = OutboxMessage.objects.filter(
            kind=OutboxMessage.Kind.SUBMIT_ORDER,
            status=OutboxMessage.Status.PENDING,
            order__status=S.APPROVED,
            order__block__isnull=True,
            order__order_type=Order.OrderType.MARKET,
            order__quantity__isnull=False,
        )
        if order_ids is not None:
            messages = messages.filter(order_id__in=list(order_ids))
        if firm_id is not None:
            messages = messages.filter(order__account__household__firm_id=firm_id)
        locked = list(
            messages.select_related("order__account__household")
            .select_for_update(skip_locked=True, of=("self", "order"))
            .order_by("order_id")
        )
        groups: dict[tuple[int, int, str], list[OutboxMessage]] = defaultdict(list)
        for message in locked:
            order = message.order
            assert order is not None
            if _whole(order.quantity):
                groups[(order.account.household.firm_id, order.security_id, order.side)].append(message)
        blocks = []
        for (firm, security_id, side), members in sorted(groups.items()):
            if len({m.order.account_id for m in members if m.order is not None}) < 2:
                continue
            orders = [m.order for m in members if m.order is not None]
            block = BlockOrder(
                firm_id=firm,
                security_id=security_id,
                side=side,
                quantity=sum((o.quantity for o in orders if o.quantity is not None), ZERO),
                client_order_id=f"{BLOCK_PREFIX}{uuid.uuid4().hex[:24]}",
                estimated_price=max(o.estimated_price for o in orders),
                created_by=acting_user,
            )
            save_attributed(block, acting_user=acting_user, reason="block order created", validate=False)
            for message in members:
                message.status = OutboxMessage.Status.SKIPPED
                message.last_error = f"sent in block order {block.pk}"
                message.save(update_fields=["status", "last_error"])
            for order in orders:
                order.block = block
                save_attributed(order, acting_user=acting_user, reason=f"in block order {block.pk}", validate=False)
            OutboxMessage.objects.create(kind=OutboxMessage.Kind.SUBMIT_BLOCK, block=block)
            blocks.append(block)
        if blocks:
            relay_after_commit()
        return blocks


def _children(block: BlockOrder) -> list[Order]:
    return list(Order.objects.select_for_update(of=("self",)).filter(block=block).order_by("id"))


def _block_request(block: BlockOrder) -> OrderRequest:
    return OrderRequest(
        client_order_id=block.client_order_id,
        account_ref=BLOCK_ACCOUNT_REF.format(firm_id=block.firm_id),
        symbol=block.security.symbol,
        side=block.side,
        order_type=Order.OrderType.MARKET,
        quantity=block.quantity,
        price_hint=block.estimated_price,
    )


def _mark_children(block: BlockOrder, target: str, *, acting_user: User, reason: str) -> None:
    for child in _children(block):
        if child.status == S.APPROVED and target != S.FAILED:
            child.custodian_order_id = block.custodian_order_id
            order_transition(child, S.SUBMITTED, acting_user=acting_user, reason=f"sent in block order {block.pk}")
        if target != S.SUBMITTED and child.status != target:
            order_transition(child, target, acting_user=acting_user, reason=reason)


def send_block(message: OutboxMessage, *, custodian: Any, acting_user: User, now: datetime) -> None:
    """The relay's step for a block's message (locked by the caller): the custodian call, and
    the block and its children marked submitted (or rejected) in the caller's transaction."""
    assert message.block_id is not None
    block = BlockOrder.objects.select_for_update().select_related("security").get(pk=message.block_id)
    if block.status != B.APPROVED:
        message.status = OutboxMessage.Status.SENT
        message.save(update_fields=["status"])
        return
    try:
        ack = custodian.submit_order(_block_request(block))
    except CustodianRejected as exc:
        block.status = B.REJECTED
        block.status_reason = f"The custodian refused the block: {exc}"
        save_attributed(block, acting_user=acting_user, reason="block rejected", validate=False)
        _mark_children(block, S.REJECTED, acting_user=acting_user, reason=block.status_reason)
    else:
        block.custodian_order_id = ack.custodian_order_id
        block.status = B.SUBMITTED
        block.status_reason = "accepted by the custodian"
        save_attributed(block, acting_user=acting_user, reason="block submitted", validate=False)
        _mark_children(block, S.SUBMITTED, acting_user=acting_user, reason="")
    # A CustodianError (unreachable) propagates before this: the relay retries it later.
    message.attempts += 1
    message.status = OutboxMessage.Status.SENT
    message.sent_at = now
    message.last_error = ""
    message.save(update_fields=["status", "sent_at", "attempts", "last_error"])


def block_give_up(block_id: int, *, acting_user: User, error: str) -> None:
    """The relay gave up sending the block: it and its children fail."""
    block = BlockOrder.objects.select_for_update().get(pk=block_id)
    if block.status != B.APPROVED:
        return
    block.status = B.FAILED
    block.status_reason = f"The custodian could not be reached: {error}"
    save_attributed(block, acting_user=acting_user, reason="block failed", validate=False)
    _mark_children(block, S.FAILED, acting_user=acting_user, reason=block.status_reason)


def block_fill_apply(*, fill: Fill, acting_user: User) -> str:
    """Record one custodian fill of a block, once per execution id; allocate when the block is
    filled. A fill beyond the block's remaining quantity or of an ended block is refused
    (TradingError, nothing recorded)."""
    with transaction.atomic():
        block = (
            BlockOrder.objects.select_for_update()
            .select_related("security")
            .filter(client_order_id=fill.client_order_id)
            .first()
        )
        if block is None:
            raise TradingError(
                f"No block order with client order id {fill.client_order_id!r}.", field="client_order_id"
            )
        if BlockExecution.objects.filter(execution_id=fill.execution_id).exists():
            return "duplicate fill"
        if not block.is_open:
            raise TradingError(f"The block order is already {block.get_status_display().lower()}.", code="fill_ended")
        if block.filled_quantity + fill.quantity > block.quantity:
            raise TradingError("The fill exceeds the block order's remaining quantity.", code="fill_overfill")
        execution = BlockExecution(
            block=block,
            execution_id=fill.execution_id,
            quantity=fill.quantity,
            price=fill.price,
            amount=cents(fill.quantity * fill.price),
            trade_date=fill.trade_date,
        )
        save_attributed(execution, acting_user=acting_user, reason="block fill", validate=False)
        if block.status == B.APPROVED:
            # The fill beat our relay's commit: the block was submitted.
            _mark_children(block, S.SUBMITTED, acting_user=acting_user, reason="")
        block.filled_quantity += fill.quantity
        block.filled_amount += execution.amount
        block.status = B.FILLED if block.filled_quantity >= block.quantity else B.PARTIALLY_FILLED
        save_attributed(block, acting_user=acting_user, reason="block fill", validate=False)
        if block.status == B.FILLED:
            _allocate(block, acting_user=acting_user)
        return "applied"


def block_cancel_apply(*, client_order_id: str, acting_user: User) -> str:
    """The custodian cancelled the rest of a block: what filled is allocated, the children's
    unfilled rest is cancelled."""
    with transaction.atomic():
        block = BlockOrder.objects.select_for_update().filter(client_order_id=client_order_id).first()
        if block is None:
            raise TradingError("No block order with that client order id.", field="client_order_id")
        if not block.is_open:
            return "already ended"
        if block.status == B.APPROVED:
            _mark_children(block, S.SUBMITTED, acting_user=acting_user, reason="")
        block.status = B.CANCELLED
        block.status_reason = "cancelled at the custodian"
        save_attributed(block, acting_user=acting_user, reason="block cancelled", validate=False)
        _allocate(block, acting_user=acting_user)
        return "cancelled"


def _allocate(block: BlockOrder, *, acting_user: User) -> None:
    """Book each child's share of the (ended) block as its fill; cancel what it did not get."""
    children = _children(block)
    executions = list(block.executions.order_by("id"))
    result = allocate_block(
        ordered=[(c.pk, c.quantity or ZERO) for c in children],
        fills=[(e.quantity, e.price) for e in executions],
    )
    trade_date = max((e.trade_date for e in executions), default=timezone.localdate())
    shares = {a.key: a for a in result.allocations}
    for child in children:
        allocation = shares[child.pk]
        if allocation.quantity > 0:
            execute_fill(
                fill=Fill(
                    client_order_id=child.client_order_id,
                    execution_id=f"{block.client_order_id}:{child.pk}",
                    quantity=allocation.quantity,
                    price=result.average_price,
                    trade_date=trade_date,
                    amount=allocation.amount,
                ),
                acting_user=acting_user,
            )
            child.refresh_from_db()
        if child.status in (S.SUBMITTED, S.PARTIALLY_FILLED):
            order_transition(
                child, S.CANCELLED, acting_user=acting_user, reason=f"block order {block.pk} ended: {block.status}"
            )
    block.average_price = result.average_price if result.filled else None
    block.allocated_at = timezone.now()
    save_attributed(block, acting_user=acting_user, reason="block allocated", validate=False)
