"""The outbox relay: sends queued custodian and bank calls, each exactly once in effect.

A message is picked with `select_for_update(skip_locked=True)` (its order row too), so
any number of relays run side by side without sending one message twice at the same
time. The call is made while the row is locked and the message is marked sent in the
same transaction: if the process dies after the call but before the commit, the message
is still pending and is sent again with the same client order id (or idempotency key),
which the custodian (or bank) answers with the first result instead of acting twice.
Failures are retried with exponential backoff (capped at 10 minutes); a message is dead,
and shows on the operations page, only after MAX_ATTEMPTS and GIVE_UP_AFTER (36 hours by
default, TRADING_OUTBOX_GIVE_UP_HOURS) since it was written.

An order in a security whose split (or reverse split) has reached its ex-date -- or reaches it
at the next open, when the market is closed -- but is not applied in our books yet waits in the
outbox (`split_held_securities`): it was made in the old shares and the custodian would work it
in the new ones. The night of the ex-date applies the split and adjusts the open orders
(`trading.services.corporate_actions.orders_adjust_for_split`); they go out the next day.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from accounts.models import User
from accounts.services import system_user
from portfolios.models import CorporateAction
from trading.adapters.banking import BankingError, get_banking
from trading.adapters.custodian import CustodianError, CustodianRejected, OrderRequest, get_custodian
from trading.lifecycle import END_STATES, OrderStatus, check_transition
from trading.models import Order, OutboxMessage
from trading.services.blocks import block_give_up, send_block
from trading.services.events import order_events_bulk
from trading.services.order_status import order_transition
from trading.services.transfers import transfer_bank_submit

logger = logging.getLogger(__name__)
S = OrderStatus
MAX_ATTEMPTS = 12
# An unreachable custodian is an outage, not a verdict: a message is given up only after
# MAX_ATTEMPTS *and* this long since it was written, so an outage through a whole night
# (and the next trading day's morning) leaves orders queued, to be sent when it ends.
GIVE_UP_AFTER = timedelta(hours=int(getattr(settings, "TRADING_OUTBOX_GIVE_UP_HOURS", 36)))
BASE_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 600.0
BATCH_SIZE = 100
CONCURRENCY = int(getattr(settings, "TRADING_RELAY_CONCURRENCY", 8))


@dataclass
class RelayResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def backoff_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def _mark_sent(message: OutboxMessage, *, now: datetime, save: bool = True) -> None:
    message.status = OutboxMessage.Status.SENT
    message.sent_at = now
    message.attempts += 1
    message.last_error = ""
    if save:
        message.save(update_fields=["status", "sent_at", "attempts", "last_error"])


def _order_request(order: Order) -> OrderRequest:
    return OrderRequest(
        client_order_id=order.client_order_id,
        account_ref=order.account.custodian_account_number or "",
        symbol=order.security.symbol,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        amount=order.amount,
        limit_price=order.limit_price,
        price_hint=order.estimated_price,
    )


def _send_submit(message: OutboxMessage, *, custodian: Any, acting_user: User, now: datetime) -> None:
    order = message.order
    assert order is not None
    if order.status != S.APPROVED:
        # Cancelled before it went out, or already moved on by a fill that beat a crashed relay.
        message.status = OutboxMessage.Status.SKIPPED if order.status == S.CANCELLED else OutboxMessage.Status.SENT
        message.save(update_fields=["status"])
        return
    try:
        ack = custodian.submit_order(_order_request(order))
    except CustodianRejected as exc:
        order_transition(order, S.SUBMITTED, acting_user=acting_user, reason="sent to the custodian")
        order_transition(order, S.REJECTED, acting_user=acting_user, reason=f"The custodian refused the order: {exc}")
        _mark_sent(message, now=now)
        return
    order.custodian_order_id = ack.custodian_order_id
    order_transition(order, S.SUBMITTED, acting_user=acting_user, reason="accepted by the custodian")
    _mark_sent(message, now=now)


def _send_cancel(message: OutboxMessage, *, custodian: Any, acting_user: User, now: datetime) -> None:
    order = message.order
    assert order is not None
    if order.status in END_STATES:
        message.status = OutboxMessage.Status.SKIPPED
        message.save(update_fields=["status"])
        return
    ack = custodian.cancel_order(order.client_order_id)
    if ack.status == "cancelled" and order.status in (S.SUBMITTED, S.PARTIALLY_FILLED):
        order_transition(order, S.CANCELLED, acting_user=acting_user, reason="cancelled at the custodian")
    _mark_sent(message, now=now)


def _send_account_settings(message: OutboxMessage, *, custodian: Any, now: datetime) -> None:
    account = message.account
    assert account is not None and account.custodian_account_number
    custodian.update_account_settings(account.custodian_account_number, fractional_shares=account.fractional_shares)
    _mark_sent(message, now=now)


def _send_transfer(message: OutboxMessage, *, banking: Any, acting_user: User, now: datetime) -> None:
    assert message.transfer is not None
    transfer_bank_submit(transfer=message.transfer, banking=banking, acting_user=acting_user)
    _mark_sent(message, now=now)


MARKET_TIME_ZONE = ZoneInfo("America/New_York")
MARKET_CLOSE = clock_time(16, 0)


def split_held_securities(now: datetime) -> set[int]:
    """Securities whose orders are not sent now (see the module docstring): a split announced
    and not applied yet with an ex-date on or before the day an order sent now is worked --
    today during the session, the next open (within four days: a weekend and a holiday) after it."""
    local = now.astimezone(MARKET_TIME_ZONE)
    worked_by = local.date() if local.time() < MARKET_CLOSE else local.date() + timedelta(days=4)
    return set(
        CorporateAction.objects.filter(
            kind__in=[CorporateAction.Kind.SPLIT, CorporateAction.Kind.REVERSE_SPLIT],
            status=CorporateAction.Status.ANNOUNCED,
            ex_date__lte=worked_by,
        ).values_list("security_id", flat=True)
    )


def _held_orders(now: datetime) -> Any:
    """The ids of the orders not sent now (a subquery), or None when no security is held."""
    held = split_held_securities(now)
    if not held:
        return None
    return Order.objects.filter(security_id__in=held, status=S.APPROVED).values("pk")


def _next_message(now: datetime, held: Any = None) -> OutboxMessage | None:
    due = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now).order_by("id")
    if held is not None:
        due = due.exclude(kind=OutboxMessage.Kind.SUBMIT_ORDER, order_id__in=held)
    # Order messages lock their order too (the webhook and cancel paths lock orders first);
    # skip_locked lets many relays share the queue.
    message = (
        due.filter(order__isnull=False)
        .select_related("order__account", "order__security")
        .select_for_update(skip_locked=True, of=("self", "order"))
        .first()
    )
    if message is not None:
        return message
    # Block orders and bank transfers (no order of their own) in one query; a block waits like its
    # children when its security's split is due (its children are held orders while unsent).
    rest = due.filter(order__isnull=True)
    if held is not None:
        rest = rest.exclude(kind=OutboxMessage.Kind.SUBMIT_BLOCK, block__orders__in=held)
    return rest.select_for_update(skip_locked=True, of=("self",)).first()


def relay_outbox(
    *,
    limit: int = 500,
    custodian: Any = None,
    banking: Any = None,
    acting_user: User | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> RelayResult:
    """Send up to `limit` due messages; return what happened.

    Order submissions go in batches: one transaction claims up to `batch_size` due messages
    and their orders (skip_locked, so relays share the queue), makes the custodian calls
    side by side (a small thread pool), and writes every outcome in bulk (orders with their
    history rows, messages) before it commits. A crash before the commit leaves the whole
    batch pending; the resend carries the same client order ids, which the custodian
    dedupes. Cancels and bank transfers (rare) go one per transaction."""
    result = RelayResult()
    custodian = custodian or get_custodian()
    banking = banking or get_banking()
    acting_user = acting_user or system_user()
    done = 0
    held = _held_orders(now or timezone.now())  # one query for the call
    while done < limit:
        moment = now or timezone.now()
        with transaction.atomic():
            batch = _claim_submissions(moment, min(batch_size, limit - done), held)
            if batch:
                _send_submissions(batch, custodian=custodian, acting_user=acting_user, now=moment, result=result)
                done += len(batch)
                continue
        with transaction.atomic():
            message = _next_message(moment, held)
            if message is None:
                break
            done += 1
            try:
                with transaction.atomic():
                    if message.kind == OutboxMessage.Kind.SUBMIT_ORDER:
                        _send_submit(message, custodian=custodian, acting_user=acting_user, now=moment)
                    elif message.kind == OutboxMessage.Kind.SUBMIT_BLOCK:
                        send_block(message, custodian=custodian, acting_user=acting_user, now=moment)
                    elif message.kind == OutboxMessage.Kind.CANCEL_ORDER:
                        _send_cancel(message, custodian=custodian, acting_user=acting_user, now=moment)
                    elif message.kind == OutboxMessage.Kind.ACCOUNT_SETTINGS:
                        _send_account_settings(message, custodian=custodian, now=moment)
                    else:
                        _send_transfer(message, banking=banking, acting_user=acting_user, now=moment)
                result.sent += 1
            except (CustodianError, BankingError) as exc:
                _retry_later(message, error=str(exc), now=moment, acting_user=acting_user, result=result)
    return result


def _claim_submissions(now: datetime, size: int, held: Any = None) -> list[OutboxMessage]:
    """Due order submissions, locked with their orders (others' claims are skipped); not those
    of securities with a split due and not applied yet (`split_held_securities`)."""
    due = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING,
        next_attempt_at__lte=now,
        kind=OutboxMessage.Kind.SUBMIT_ORDER,
        order__isnull=False,
    )
    if held is not None:
        due = due.exclude(order_id__in=held)
    return list(
        due.order_by("id")
        # The household (unlocked) names the firm and household of the orders' events.
        .select_related("order__account__household", "order__security")
        .select_for_update(skip_locked=True, of=("self", "order"))[:size]
    )


def _submit_quietly(custodian: Any, message: OutboxMessage) -> Any:
    order = message.order
    assert order is not None
    try:
        return custodian.submit_order(_order_request(order))
    except (CustodianError, CustodianRejected) as exc:  # CustodianRejected may not subclass CustodianError
        return exc


def _send_submissions(
    batch: list[OutboxMessage], *, custodian: Any, acting_user: User, now: datetime, result: RelayResult
) -> None:
    """One claimed batch: the calls side by side, then every outcome written in bulk."""
    to_send = [m for m in batch if m.order is not None and m.order.status == S.APPROVED]
    settled = [m for m in batch if m not in to_send]
    for message in settled:
        # Cancelled before it went out, or already moved on by a fill that beat a crashed relay.
        assert message.order is not None
        message.status = (
            OutboxMessage.Status.SKIPPED if message.order.status == S.CANCELLED else OutboxMessage.Status.SENT
        )
    if len(to_send) > 1:
        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(to_send))) as pool:
            answers = list(pool.map(lambda m: _submit_quietly(custodian, m), to_send))
    else:
        answers = [_submit_quietly(custodian, m) for m in to_send]
    submitted: list[Order] = []
    sent: list[OutboxMessage] = list(settled)
    for message, answer in zip(to_send, answers, strict=True):
        order = message.order
        assert order is not None
        if isinstance(answer, CustodianRejected):
            order_transition(order, S.SUBMITTED, acting_user=acting_user, reason="sent to the custodian")
            order_transition(
                order, S.REJECTED, acting_user=acting_user, reason=f"The custodian refused the order: {answer}"
            )
        elif isinstance(answer, CustodianError):
            _retry_later(message, error=str(answer), now=now, acting_user=acting_user, result=result)
            continue
        else:
            check_transition(order.status, S.SUBMITTED)
            order.custodian_order_id = answer.custodian_order_id
            order.status = S.SUBMITTED
            order.status_reason = "accepted by the custodian"
            order.submitted_at = order.submitted_at or now
            order.updated_at = now
            submitted.append(order)
        _mark_sent(message, now=now, save=False)
        sent.append(message)
        result.sent += 1
    if submitted:
        bulk_update_with_history(
            submitted,
            Order,
            ["custodian_order_id", "status", "status_reason", "submitted_at", "updated_at"],
            default_user=acting_user,
            default_change_reason=f"order {S.SUBMITTED}",
        )
        order_events_bulk(submitted)
    if sent:
        OutboxMessage.objects.bulk_update(sent, ["status", "sent_at", "attempts", "last_error"])


def _retry_later(message: OutboxMessage, *, error: str, now: datetime, acting_user: User, result: RelayResult) -> None:
    message.attempts += 1
    message.last_error = error[:2000]
    result.errors.append(error)
    if message.attempts >= MAX_ATTEMPTS and now - message.created_at >= GIVE_UP_AFTER:
        message.status = OutboxMessage.Status.DEAD
        result.dead += 1
        logger.error("outbox message gave up", extra={"message_id": message.pk, "error": error})
        order = message.order
        if message.kind == OutboxMessage.Kind.SUBMIT_ORDER and order is not None and order.status == S.APPROVED:
            order_transition(
                order, S.FAILED, acting_user=acting_user, reason=f"The custodian could not be reached: {error}"
            )
        if message.kind == OutboxMessage.Kind.SUBMIT_BLOCK and message.block_id is not None:
            block_give_up(message.block_id, acting_user=acting_user, error=error)
    else:
        message.next_attempt_at = now + backoff_delay(message.attempts)
        result.retried += 1
    message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])


def outbox_backlog() -> dict[str, int]:
    """Pending messages by kind, and dead ones (for the operations page and metrics)."""
    rows = (
        OutboxMessage.objects.filter(status__in=[OutboxMessage.Status.PENDING, OutboxMessage.Status.DEAD])
        .values("status", "kind")
        .annotate(n=Count("id"))
    )
    return {f"{r['status']}:{r['kind']}": r["n"] for r in rows}
