"""Custodian webhooks, fills and settlement.

Exactly once: an event is recorded under its unique event id (a duplicate changes
nothing), and each fill under its unique custodian execution id. Events may arrive in any
order: an order's status is computed from the sum of its executions, never from the
event's place in the stream. A fill posts one journal entry (shares against the market,
cash against the custodian's clearing book), opens a tax lot for a buy or relieves lots
highest-cost first for a sell; T+1 (business days) the settlement run moves the cash from
clearing to the market.

A fill is booked only within its order: more than the order's remaining quantity, or a fill
for an order that has ended (filled, cancelled, rejected, failed) or was never sent, books
nothing and is recorded as a FillAnomaly for operations (the webhook answers 422). Numbers
that do not fit their columns (1e30 shares, 1e-20 shares, NaN, too many places) are a 400.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from accounts.services import system_user
from kronos.history import save_attributed
from portfolios import ledger
from portfolios import services as portfolio_services
from portfolios.ledger import PostingSpec
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook
from trading.errors import TradingError
from trading.lifecycle import END_STATES, OrderStatus
from trading.models import Execution, FillAnomaly, Order, Side, WebhookEvent
from trading.services.common import PRICE, ZERO, add_business_days, cents
from trading.services.events import fill_event
from trading.services.orders import order_transition

logger = logging.getLogger(__name__)
S = OrderStatus
SETTLEMENT_DAYS = 1


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    execution_id: str
    quantity: Decimal
    price: Decimal
    trade_date: date
    order_quantity: Decimal | None = None


#: What a fill's numbers must fit: the columns they are stored in (portfolios.models and
#: trading.models) and the cash amount they make. Anything outside is refused (a 400), never
#: rounded or left to overflow the database (a 500 the custodian retries forever).
LIMITS = {
    # key: (largest exclusive, most decimal places)
    "quantity": (Decimal(10) ** 19, 9),
    "order_quantity": (Decimal(10) ** 19, 9),
    "price": (Decimal(10) ** 14, 6),
}
MAX_AMOUNT = Decimal(10) ** 15  # cash columns hold 16 integer digits


def _dec(data: dict[str, Any], key: str, *, required: bool = True) -> Decimal | None:
    raw = data.get(key)
    if raw in (None, ""):
        if required:
            raise TradingError(f"The event has no {key}.", field=key)
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise TradingError(f"The event's {key} is not a decimal.", field=key)
    text = str(raw).strip()
    if not text.isascii():
        raise TradingError(f"The event's {key} is not a decimal.", field=key)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise TradingError(f"The event's {key} is not a decimal.", field=key) from None
    if not value.is_finite() or value <= 0:
        raise TradingError(f"The event's {key} must be positive.", field=key)
    largest, places = LIMITS.get(key, (Decimal(10) ** 19, 9))
    if value >= largest:
        raise TradingError(f"The event's {key} is too large.", field=key)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise TradingError(f"The event's {key} has more than {places} decimal places.", field=key)
    return value


RETRYABLE_SQLSTATES = ("40P01", "40001")  # deadlock detected, serialization failure


def webhook_event_apply(*, event: dict[str, Any], acting_user: Any = None, attempts: int = 3) -> str:
    """Apply one custodian event once (see `_webhook_event_apply`); a deadlock or
    serialization failure — fills of one household's accounts run side by side — is
    retried from the start (the whole transaction rolled back first) when this call owns
    the transaction."""
    for attempt in range(attempts):
        try:
            return _webhook_event_apply(event=event, acting_user=acting_user)
        except OperationalError as exc:
            code = getattr(exc.__cause__, "sqlstate", None)
            if connection.in_atomic_block or code not in RETRYABLE_SQLSTATES or attempt == attempts - 1:
                raise
            logger.warning("webhook event retried after %s", code, extra={"event_id": event.get("id")})
    raise AssertionError("unreachable")


def _webhook_event_apply(*, event: dict[str, Any], acting_user: Any = None) -> str:
    """Apply one custodian event once; return what happened ("applied", "duplicate", ...).

    Raises TradingError for an event that cannot be understood (the caller answers 400 and
    the custodian will retry or alert); nothing is recorded then.
    """
    event_id = str(event.get("id") or "")
    kind = str(event.get("type") or "")
    data = event.get("data")
    if not event_id or not kind or not isinstance(data, dict):
        raise TradingError("The event needs an id, a type and data.")
    acting_user = acting_user or system_user()
    with transaction.atomic():
        # Recorded first, once: a duplicate delivery finds its event id taken and stops here
        # (ON CONFLICT DO NOTHING: no savepoint round trips for the common, new event).
        record = _record_event(event_id=event_id[:100], kind=kind[:40], event=event)
        if record is None:
            return "duplicate"
        if kind == "order.fill":
            result = _apply_fill_event(data, acting_user=acting_user, event_id=event_id)
        elif kind == "order.cancelled":
            result = _apply_cancel_event(data, acting_user=acting_user)
        elif kind in ("account.opened", "account.rejected"):
            from trading.services.account_opening import account_opening_record, account_opening_rejected

            request_id = str(data.get("request_id") or "")
            if kind == "account.opened":
                result = account_opening_record(
                    request_id=request_id, number=str(data.get("account_number") or ""), acting_user=acting_user
                )
            else:
                result = account_opening_rejected(
                    request_id=request_id, reason=str(data.get("reason") or ""), acting_user=acting_user
                )
        else:
            result = "ignored"
        record.result = result
        record.save(update_fields=["result"])
        return result


def _record_event(*, event_id: str, kind: str, event: dict[str, Any]) -> WebhookEvent | None:
    """Insert the event once (ON CONFLICT DO NOTHING ... RETURNING: one round trip, no
    savepoint); None when its id was seen before."""
    received = timezone.now()
    table = WebhookEvent._meta.db_table
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (source, event_id, type, payload, received_at, result) "  # noqa: S608 (our table name)  # nosec B608 -- identifiers from model _meta or code, values as parameters
            f"VALUES (%s, %s, %s, %s{cast}, %s, '') ON CONFLICT (event_id) DO NOTHING RETURNING id",
            ["custodian", event_id, kind, json.dumps(event, cls=DjangoJSONEncoder), received],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return WebhookEvent(
        pk=row[0], source="custodian", event_id=event_id, type=kind, payload=event, received_at=received
    )


def _apply_fill_event(data: dict[str, Any], *, acting_user: Any, event_id: str = "") -> str:
    trade_day = data.get("trade_date")
    try:
        trade_date = date.fromisoformat(trade_day) if trade_day else timezone.localdate()
    except ValueError:
        raise TradingError("The event's trade_date is not a date.", field="trade_date") from None
    fill = Fill(
        client_order_id=str(data.get("client_order_id") or ""),
        execution_id=str(data.get("execution_id") or ""),
        quantity=_dec(data, "quantity"),  # type: ignore[arg-type]
        price=_dec(data, "price"),  # type: ignore[arg-type]
        trade_date=trade_date,
        order_quantity=_dec(data, "order_quantity", required=False),
    )
    if not fill.execution_id:
        raise TradingError("The event has no execution_id.", field="execution_id")
    if cents(fill.quantity * fill.price) >= MAX_AMOUNT:
        raise TradingError("The event's quantity times price is too large.", field="quantity")
    outcome = _execute(fill=fill, acting_user=acting_user, event_id=event_id)
    if isinstance(outcome, FillAnomaly):
        return f"refused: {outcome.reason} (anomaly {outcome.pk})"
    return "applied" if outcome is not None else "duplicate fill"


class FillRefused(TradingError):
    """A fill beyond the order's remaining quantity, or for an order that ended or was never
    sent: recorded as a FillAnomaly for operations, nothing booked."""

    def __init__(self, anomaly: FillAnomaly):
        super().__init__(anomaly.detail, code=f"fill_{anomaly.reason}")
        self.anomaly = anomaly


def _anomaly_reason(order: Order, fill: Fill) -> tuple[str, str] | None:
    """Why `fill` must not be booked on the (locked) `order`, or None when it may."""
    if order.status in END_STATES:
        return FillAnomaly.Reason.ORDER_ENDED, f"the order is already {order.status_label.lower()}"
    if order.status in (S.DRAFT, S.PENDING_REVIEW):
        return FillAnomaly.Reason.NOT_SENT, f"the order is {order.status_label.lower()} and was never sent"
    ordered = order.quantity if order.quantity is not None else fill.order_quantity
    if ordered is not None and order.filled_quantity + fill.quantity > ordered:
        remaining = max(ordered - order.filled_quantity, ZERO)
        return (
            FillAnomaly.Reason.OVERFILL,
            f"{fill.quantity.normalize():f} shares exceed the {remaining.normalize():f} remaining of "
            f"{ordered.normalize():f} ordered",
        )
    return None


def _record_anomaly(*, order: Order, fill: Fill, reason: str, why: str, event_id: str, acting_user: Any) -> FillAnomaly:
    anomaly = FillAnomaly(
        order=order,
        execution_id=fill.execution_id,
        event_id=event_id[:100],
        reason=reason,
        quantity=fill.quantity,
        price=fill.price,
        trade_date=fill.trade_date,
        order_status=order.status,
        order_quantity=order.quantity if order.quantity is not None else fill.order_quantity,
        filled_before=order.filled_quantity,
        detail=f"Fill {fill.execution_id} refused and not booked: {why}.",
    )
    save_attributed(anomaly, acting_user=acting_user, reason="fill refused", validate=False)
    logger.warning(
        "custodian fill refused",
        extra={"execution_id": fill.execution_id, "order_id": order.pk, "reason": reason, "detail": why},
    )
    return anomaly


def execution_apply(*, fill: Fill, acting_user: Any) -> Execution | None:
    """Record one fill and post it to the ledger, once per execution id (None if seen before).

    Guaranteed in one transaction: the Execution, its journal entry, the tax lots, and the
    order's filled quantity, average price and status (computed from all its executions,
    so the fills' arrival order does not matter). Inside a caller's transaction it takes
    no savepoint: a failure rolls the caller back with it.

    A fill beyond the order's remaining quantity, or for an order that ended or was never
    sent, books nothing: it is recorded as a FillAnomaly (once per execution id) and raised
    as FillRefused after that record is written."""
    outcome = _execute(fill=fill, acting_user=acting_user)
    if isinstance(outcome, FillAnomaly):
        raise FillRefused(outcome)
    return outcome


def _execute(*, fill: Fill, acting_user: Any, event_id: str = "") -> Execution | FillAnomaly | None:
    with transaction.atomic(savepoint=False):
        order = (
            # Only the order row: the account, household and security rows it joins stay
            # unlocked, so fills of other orders (same security or firm) run side by side.
            Order.objects.select_for_update(of=("self",))
            .select_related("account__household", "security")
            .filter(client_order_id=fill.client_order_id)
            .first()
        )
        if order is None:
            raise TradingError(f"No order with client order id {fill.client_order_id!r}.", field="client_order_id")
        if Execution.objects.filter(execution_id=fill.execution_id).exists():
            return None
        seen = FillAnomaly.objects.filter(execution_id=fill.execution_id).first()
        if seen is not None:
            return seen  # refused before: refused again, recorded once
        refusal = _anomaly_reason(order, fill)
        if refusal is not None:
            return _record_anomaly(
                order=order, fill=fill, reason=refusal[0], why=refusal[1], event_id=event_id, acting_user=acting_user
            )
        # The account row too (only it): withdrawals and new orders check cash against open
        # buys under this lock, and a fill changes both; without it a withdrawal could read the
        # cash from before a fill and the reservations from after it, and overdraw.
        list(InvestmentAccount.objects.select_for_update(of=("self",)).filter(pk=order.account_id).values_list("pk"))
        account, security = order.account, order.security
        amount = cents(fill.quantity * fill.price)
        firm_id = account.household.firm_id
        book = ledger.client_book(account)
        market = ledger.system_book(LedgerBook.Kind.MARKET, firm=firm_id)
        clearing = ledger.system_book(LedgerBook.Kind.CUSTODIAN_CLEARING, firm=firm_id)
        sign = Decimal(1) if order.side == Side.BUY else Decimal(-1)
        postings = [
            PostingSpec.shares(book, security, sign * fill.quantity, price=fill.price),
            PostingSpec.shares(market, security, -sign * fill.quantity, price=fill.price),
        ]
        if amount:
            postings += [
                PostingSpec.cash(book, -sign * amount, account.base_currency),
                PostingSpec.cash(clearing, sign * amount, account.base_currency),
            ]
        # The custodian has done the trade: the ledger must show it even if a buy filled
        # above its reservation, so the entry may take cash below zero (operations sees it).
        entry = ledger.post_entry(
            kind=JournalEntry.Kind.TRADE,
            postings=postings,
            effective_date=fill.trade_date,
            memo=f"{order.side} {fill.quantity.normalize():f} {security.symbol} @ {fill.price.normalize():f}",
            acting_user=acting_user,
            idempotency_key=f"fill:{fill.execution_id}",
            reference_type="trading.order",
            reference_id=order.pk,
            allow_negative=order.side == Side.BUY,
        )
        gain = ZERO
        if order.side == Side.BUY:
            portfolio_services.lot_open(
                account=account,
                security=security,
                quantity=fill.quantity,
                cost_per_share=fill.price,
                acquired_on=fill.trade_date,
                acting_user=acting_user,
                entry=entry,
            )
        else:
            closures = portfolio_services.lots_relieve(
                account=account,
                security=security,
                quantity=fill.quantity,
                price=fill.price,
                closed_on=fill.trade_date,
                acting_user=acting_user,
                entry=entry,
            )
            gain = sum((c.gain for c in closures), ZERO)
        execution = Execution(
            order=order,
            execution_id=fill.execution_id,
            quantity=fill.quantity,
            price=fill.price,
            amount=amount,
            trade_date=fill.trade_date,
            settle_date=add_business_days(fill.trade_date, SETTLEMENT_DAYS),
            realised_gain=gain,
            entry=entry,
        )
        save_attributed(execution, acting_user=acting_user, reason="fill", validate=False)
        _refresh_order(order, fill=fill, acting_user=acting_user)
        fill_event(order, execution)
        return execution


def _refresh_order(order: Order, *, fill: Fill, acting_user: Any) -> None:
    executions = list(order.executions.values_list("quantity", "price", "amount", "realised_gain"))
    filled = sum((q for q, _, _, _ in executions), ZERO)
    value = sum((q * p for q, p, _, _ in executions), ZERO)
    order.filled_quantity = filled
    order.filled_amount = sum((a for _, _, a, _ in executions), ZERO)
    order.realised_gain = sum((g for _, _, _, g in executions), ZERO)
    order.average_price = (value / filled).quantize(PRICE, rounding=ROUND_HALF_EVEN) if filled else None
    if order.quantity is None and fill.order_quantity is not None:
        order.quantity = fill.order_quantity  # an amount order's shares, as the custodian computed them
    if order.status == S.APPROVED:
        # The fill beat our relay's commit (or the relay died after sending): it was submitted.
        # Both steps stay in the order's history (the audit trail shows the submission).
        order_transition(order, S.SUBMITTED, acting_user=acting_user, reason="filled before acknowledgement")
    target = S.FILLED if order.quantity is not None and filled >= order.quantity else S.PARTIALLY_FILLED
    order_transition(order, target, acting_user=acting_user, reason="fill")


@transaction.atomic
def fill_anomaly_resolve(*, anomaly: FillAnomaly, acting_user: Any, note: str) -> FillAnomaly:
    """Operations close a refused fill after settling it with the custodian (the note says how).
    Nothing is booked here: a correction goes through the ledger's own services."""
    note = (note or "").strip()
    if not note:
        raise TradingError("Say how the refused fill was settled with the custodian.", field="note")
    anomaly = FillAnomaly.objects.select_for_update().get(pk=anomaly.pk)
    if anomaly.status != FillAnomaly.Status.OPEN:
        raise TradingError("This refused fill is already resolved.", code="anomaly_resolved")
    anomaly.status = FillAnomaly.Status.RESOLVED
    anomaly.resolution_note = note
    anomaly.resolved_by = acting_user
    anomaly.resolved_at = timezone.now()
    save_attributed(anomaly, acting_user=acting_user, reason="fill anomaly resolved", validate=False)
    return anomaly


def _apply_cancel_event(data: dict[str, Any], *, acting_user: Any) -> str:
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(client_order_id=str(data.get("client_order_id"))).first()
        if order is None:
            raise TradingError("No order with that client order id.", field="client_order_id")
        if order.status in (S.APPROVED, S.SUBMITTED, S.PARTIALLY_FILLED):
            order_transition(order, S.CANCELLED, acting_user=acting_user, reason="cancelled at the custodian")
            return "cancelled"
        return "already ended"


def settlement_run(*, as_of: date, acting_user: Any = None, chunk_size: int = 500) -> int:
    """Settle every fill due by `as_of` (T+1 business days): move its cash from the custodian's
    clearing book to the market. Idempotent: a settled fill is never settled again, and each
    entry has its own key, so a rerun (or two concurrent runs) settles nothing twice."""
    acting_user = acting_user or system_user()
    settled = 0
    while True:
        with transaction.atomic():
            batch = list(
                Execution.objects.select_for_update(skip_locked=True)
                .filter(settled_at__isnull=True, settle_date__lte=as_of)
                .select_related("order__account__household")
                .order_by("id")[:chunk_size]
            )
            if not batch:
                return settled
            books: dict[tuple[str, int], LedgerBook] = {}
            now = timezone.now()
            specs: list[ledger.EntrySpec] = []
            paid: list[Execution] = []  # the executions with cash to settle, in the order of `specs`
            for execution in batch:
                order = execution.order
                firm_id = order.account.household.firm_id
                for kind in (LedgerBook.Kind.MARKET, LedgerBook.Kind.CUSTODIAN_CLEARING):
                    if (kind, firm_id) not in books:
                        books[(kind, firm_id)] = ledger.system_book(kind, firm=firm_id)
                if execution.amount:
                    sign = Decimal(1) if order.side == Side.BUY else Decimal(-1)
                    currency = order.account.base_currency
                    specs.append(
                        ledger.EntrySpec(
                            kind=JournalEntry.Kind.SETTLEMENT,
                            postings=[
                                PostingSpec.cash(
                                    books[(LedgerBook.Kind.CUSTODIAN_CLEARING, firm_id)],
                                    -sign * execution.amount,
                                    currency,
                                ),
                                PostingSpec.cash(
                                    books[(LedgerBook.Kind.MARKET, firm_id)], sign * execution.amount, currency
                                ),
                            ],
                            effective_date=execution.settle_date,
                            memo=f"settlement of {execution.execution_id}",
                            idempotency_key=f"settle:{execution.execution_id}",
                            reference_type="trading.execution",
                            reference_id=execution.pk,
                        )
                    )
                    paid.append(execution)
                execution.settled_at = now
            # The batch's entries in one call (a fixed number of queries, not a dozen an entry).
            for execution, posted in zip(paid, ledger.post_entries_bulk(specs, acting_user=acting_user), strict=True):
                execution.settlement_entry = posted.entry
            bulk_update_with_history(
                batch,
                Execution,
                ["settled_at", "settlement_entry"],
                default_user=acting_user,
                default_change_reason="settled",
            )
            settled += len(batch)
