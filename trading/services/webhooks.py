"""Custodian webhooks: each event applied once, under its unique event id (a duplicate changes
nothing) — fills (`trading.services.fills`), cancels and account openings. Numbers that do not fit
their columns (1e30 shares, 1e-20 shares, NaN, too many places) are refused (a 400)."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import system_user
from trading.errors import TradingError
from trading.lifecycle import OrderStatus
from trading.models import FillAnomaly, Order, WebhookEvent
from trading.services.account_opening import account_opening_record, account_opening_rejected
from trading.services.blocks import block_cancel_apply, block_fill_apply, is_block_order_id
from trading.services.common import cents
from trading.services.fills import Fill, execute_fill
from trading.services.order_status import order_transition

logger = logging.getLogger(__name__)
S = OrderStatus


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


def webhook_event_apply(*, event: dict[str, Any], acting_user: User | None = None, attempts: int = 3) -> str:
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


def _webhook_event_apply(*, event: dict[str, Any], acting_user: User | None = None) -> str:
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


def _apply_fill_event(data: dict[str, Any], *, acting_user: User, event_id: str = "") -> str:
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
    if is_block_order_id(fill.client_order_id):
        return block_fill_apply(fill=fill, acting_user=acting_user)
    outcome = execute_fill(fill=fill, acting_user=acting_user, event_id=event_id)
    if isinstance(outcome, FillAnomaly):
        return f"refused: {outcome.reason} (anomaly {outcome.pk})"
    return "applied" if outcome is not None else "duplicate fill"


def _apply_cancel_event(data: dict[str, Any], *, acting_user: User) -> str:
    if is_block_order_id(str(data.get("client_order_id") or "")):
        return block_cancel_apply(client_order_id=str(data.get("client_order_id")), acting_user=acting_user)
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(client_order_id=str(data.get("client_order_id"))).first()
        if order is None:
            raise TradingError("No order with that client order id.", field="client_order_id")
        if order.status in (S.APPROVED, S.SUBMITTED, S.PARTIALLY_FILLED):
            order_transition(order, S.CANCELLED, acting_user=acting_user, reason="cancelled at the custodian")
            return "cancelled"
        return "already ended"
