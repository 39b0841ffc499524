"""Order services: create (with pre-trade checks), review and cancel.

Every path that makes an order — the advisor's page, a proposal's approval, the API and
jobs — goes through `order_create`. An order that passes its checks is approved and its
submission is written to the outbox in the same transaction; the relay sends it. Its later
status moves are `trading.services.order_status`."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from kronos.db import create_or_winner
from kronos.history import save_attributed
from portfolios.models import QUANTITY_PLACES, CashBalance, InvestmentAccount, Price, Security, TaxLot
from trading.errors import TradingError
from trading.lifecycle import AT_CUSTODIAN, END_STATES, OPEN_STATES, OrderStatus, check_transition
from trading.models import CashTransfer, Order, OrderCheck, OutboxMessage, RebalanceProposal, Side
from trading.services.common import (
    MONEY,
    QUANTITY,
    ZERO,
    OrderIntent,
    cents,
    cents_up,
    relay_after_commit,
    run_pretrade_checks,
    sellable_quantity,
)
from trading.services.events import order_event, order_reviewed_event
from trading.services.order_status import (
    approve_and_queue,
    awaiting_reason,
    order_transition,
    queue_submission,
    release_funded_buys,
    waits_for_sells,
)

S = OrderStatus


MAX_QUANTITY = Decimal("1000000000")
MAX_AMOUNT = Decimal("1000000000000")
PRICE_FIELD = DecimalField(max_digits=20, decimal_places=6)


def _client_order_id() -> str:
    return f"KR-{uuid.uuid4().hex[:24]}"


def _resolve_security(security: Security | str) -> Security:
    if isinstance(security, Security):
        return security
    symbol = str(security or "").strip().upper()
    found = Security.objects.filter(symbol=symbol).first()
    if found is None:
        raise TradingError(f"Unknown symbol {symbol or '(empty)'}.", field="symbol", code="unknown_symbol")
    return found


def _validate(
    *,
    side: str,
    order_type: str,
    quantity: Decimal | None,
    amount: Decimal | None,
    limit_price: Decimal | None,
) -> None:
    if side not in Side.values:
        raise TradingError("Side must be buy or sell.", field="side")
    if order_type not in Order.OrderType.values:
        raise TradingError("Order type must be market or limit.", field="order_type")
    if (quantity is None) == (amount is None):
        raise TradingError("Give either a quantity of shares or an amount, not both.", field="quantity")
    for name, value, limit in (("quantity", quantity, MAX_QUANTITY), ("amount", amount, MAX_AMOUNT)):
        if value is None:
            continue
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TradingError(f"The {name} must be a number.", field=name)
        if value <= 0:
            raise TradingError(f"The {name} must be more than zero.", field=name)
        if value > limit:
            raise TradingError(f"The {name} is too large.", field=name)
    if quantity is not None and quantity != quantity.quantize(QUANTITY):
        raise TradingError("A quantity has at most 9 decimal places.", field="quantity")
    if amount is not None and amount != cents(amount):
        raise TradingError("An amount has at most 2 decimal places.", field="amount")
    if order_type == Order.OrderType.LIMIT:
        if limit_price is None or not limit_price.is_finite() or limit_price <= 0:
            raise TradingError("A limit order needs a limit price above zero.", field="limit_price")
    elif limit_price is not None:
        raise TradingError("Only a limit order has a limit price.", field="limit_price")


def order_create(
    *,
    account: InvestmentAccount,
    security: Security | str,
    side: str,
    acting_user: User,
    source: str,
    order_type: str = Order.OrderType.MARKET,
    quantity: Decimal | None = None,
    amount: Decimal | None = None,
    limit_price: Decimal | None = None,
    idempotency_key: str | None = None,
    proposal: RebalanceProposal | None = None,
    extra_buying_power: Decimal = ZERO,
    check_context: dict[Any, Any] | None = None,
    lot_selection: dict[str, Any] | None = None,
) -> Order:
    """Make an order and run it through the pre-trade checks.

    Validated: side, type, a positive quantity (<= 9 places) or amount (<= 2 places), a
    known symbol with a price, a limit price for limit orders, an open account, enough
    buying power for a buy (cash minus what open buys reserve) and enough unsold shares for a
    sell — else `TradingError` and nothing is written.
    A proposal's buy (`proposal` given) may also count `extra_buying_power`, the proceeds of
    the proposal's own sells not yet spent by its earlier buys: when its cost is more than the
    buying power it takes the status `awaiting_funds` (its reservation held) and goes out when
    those sells have filled (`release_funded_buys`); when it is more than both, it is written
    rejected with the reason (naming the security) instead of refusing the whole proposal.
    `check_context` (a dict) is shared by orders made together in the caller's transaction (a
    proposal's approval): the checks read the account's facts once for all of them.
    A sell may name its tax lots (`lot_selection`, see `lot_selection_clean`).
    Guaranteed: one order per `idempotency_key` (a retry returns the first); its check
    results stored; a hard failure rejects it with the reasons, a soft one sends it to
    compliance review, else it is approved and its submission queued in the outbox, all
    in one transaction.
    """
    _validate(side=side, order_type=order_type, quantity=quantity, amount=amount, limit_price=limit_price)
    if source not in Order.Source.values:
        raise TradingError("Unknown order source.", field="source")
    resolved = _resolve_security(security)

    # A retry with a known key is answered under the account lock (one read either way).
    def create() -> Order:
        return _order_create(
            account=account,
            security=resolved,
            side=side,
            acting_user=acting_user,
            source=source,
            order_type=order_type,
            quantity=quantity,
            amount=amount,
            limit_price=limit_price,
            idempotency_key=idempotency_key or None,
            proposal=proposal,
            extra_buying_power=extra_buying_power,
            check_context=check_context,
            lot_selection=lot_selection,
        )

    def winner() -> Order | None:
        return Order.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None

    return create_or_winner(create, winner)


def _order_create(
    *,
    account: InvestmentAccount,
    security: Security,
    side: str,
    acting_user: User,
    source: str,
    order_type: str,
    quantity: Decimal | None,
    amount: Decimal | None,
    limit_price: Decimal | None,
    idempotency_key: str | None,
    proposal: RebalanceProposal | None,
    extra_buying_power: Decimal,
    check_context: dict[Any, Any] | None = None,
    lot_selection: dict[str, Any] | None = None,
) -> Order:
    account, cash, held, price = _lock_for_order(account, security)
    if idempotency_key:
        existing = Order.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    if account.status != InvestmentAccount.Status.OPEN:
        raise TradingError(f"The account is {account.get_status_display().lower()}: no new orders.", field="account")
    if security.currency != account.base_currency:
        raise TradingError(
            f"{security.symbol} trades in {security.currency}, the account holds {account.base_currency}.",
            field="symbol",
        )
    if side == Side.BUY and not security.is_active:
        raise TradingError(f"{security.symbol} is inactive and cannot be bought.", field="symbol")
    if price is None:
        raise TradingError(f"There is no price for {security.symbol} yet.", field="symbol")

    reserve = ZERO
    waits = False  # a proposal's buy that its own sells pay for
    short = ""  # a proposal's buy that not even they pay for
    if side == Side.BUY:
        reserve_price = limit_price if order_type == Order.OrderType.LIMIT and limit_price else price
        reserve = amount if amount is not None else cents_up(quantity * reserve_price)  # type: ignore[operator]
        free = cash - held
        extra = max(extra_buying_power, ZERO) if proposal is not None else ZERO
        if reserve > free + extra:
            message = (
                f"Not enough cash for {security.symbol}: the order needs {reserve:,.2f} {account.base_currency}, "
                f"{max(free + extra, ZERO):,.2f} is available"
                + (f" counting {extra:,.2f} from the proposal's sells." if extra else ".")
            )
            if proposal is None:
                raise TradingError(
                    message, field="amount" if amount is not None else "quantity", code="insufficient_cash"
                )
            short = message
        elif reserve > free:
            waits = True
    else:
        wanted = quantity if quantity is not None else (amount / price).quantize(QUANTITY)  # type: ignore[operator]
        sellable = sellable_quantity(account, security)
        if wanted > sellable:
            raise TradingError(
                f"Not enough {security.symbol}: the order sells {wanted.normalize():f}, "
                f"{max(sellable, ZERO).normalize():f} can be sold.",
                field="quantity" if quantity is not None else "amount",
                code="insufficient_shares",
            )
    lot_selection = lot_selection_clean(lot_selection, account=account, security=security, side=side, quantity=quantity)

    intent = OrderIntent(
        account=account,
        security=security,
        side=side,
        quantity=quantity,
        amount=amount,
        price=price,
        source=source,
        order_type=order_type,
        limit_price=limit_price,
        pending_proceeds=max(extra_buying_power, ZERO) if side == Side.BUY and proposal is not None else ZERO,
        context=check_context,
        lot_selection=lot_selection,
    )
    results = run_pretrade_checks(intent)
    hard = [r.message for r in results if r.outcome == "fail" and r.hard]
    soft = [r.message for r in results if r.outcome == "fail" and not r.hard]
    if short:
        hard = [short, *(m for m in hard if not m.startswith("Not enough cash"))]
    if hard:
        target, reason = S.REJECTED, " ".join(hard)
    elif soft:
        target, reason = S.PENDING_REVIEW, " ".join(soft)
    elif waits:
        target, reason = S.AWAITING_FUNDS, awaiting_reason(reserve - (cash - held), account.base_currency)
    else:
        target, reason = S.APPROVED, "pre-trade checks passed"
    # The order is written once, already in the state its checks decide (draft -> target is
    # checked as any move is): one row and one history row, not one per step.
    check_transition(S.DRAFT, target)
    now = timezone.now()
    order = Order(
        account=account,
        security=security,
        side=side,
        order_type=order_type,
        quantity=quantity,
        amount=amount,
        limit_price=limit_price,
        estimated_price=price,
        reserved_amount=reserve,
        status=target,
        status_reason=reason,
        source=source,
        client_order_id=_client_order_id(),
        idempotency_key=idempotency_key,
        proposal=proposal,
        lot_selection=lot_selection,
        created_by=acting_user,
        created_at=now,
        closed_at=now if target in END_STATES else None,
    )
    save_attributed(order, acting_user=acting_user, reason=f"order created: {target}", validate=False)
    if results:
        bulk_create_with_history(
            [OrderCheck(order=order, rule=r.rule, outcome=r.outcome, hard=r.hard, message=r.message) for r in results],
            OrderCheck,
            default_user=acting_user,
            default_change_reason="pre-trade check",
        )
    if target == S.APPROVED:
        queue_submission(order)
    order_event(order)
    return order


LOT_METHODS = ("hifo", "tax_optimised", "fifo", "specific")


def lot_selection_clean(
    selection: Any, *, account: InvestmentAccount, security: Security, side: str, quantity: Decimal | None
) -> dict[str, Any] | None:
    """A sell's lot selection, validated and normalised, or None (the account's method).

    `{"method": "hifo" | "tax_optimised" | "fifo"}`, or `{"method": "specific", "lots": [{"id":
    lot id, "quantity": shares}, ...]}`: open lots of this account and security, each named
    once, each quantity positive and at most the lot's open shares, the quantities summing to
    the order's quantity (a specific selection needs a quantity order). Else TradingError on
    the field `lot_selection`."""
    if selection in (None, {}):
        return None

    def bad(message: str) -> TradingError:
        return TradingError(message, field="lot_selection")

    if not isinstance(selection, dict):
        raise bad('Give the lot selection as {"method": ..., "lots": [...]}.')
    if side != Side.SELL:
        raise bad("Only a sell chooses its tax lots.")
    method = selection.get("method")
    if method not in LOT_METHODS:
        raise bad(f"The lot method must be one of {', '.join(LOT_METHODS)}.")
    if method != "specific":
        if selection.get("lots"):
            raise bad(f'Lots are named only with the method "specific", not "{method}".')
        return {"method": method}
    items = selection.get("lots")
    if not isinstance(items, list) or not items:
        raise bad('The method "specific" needs the lots: [{"id": ..., "quantity": ...}].')
    if quantity is None:
        raise bad("Specific lots need an order by quantity, not by amount.")
    wanted: dict[int, Decimal] = {}
    for item in items:
        try:
            lot_id = int(item["id"])
            shares = Decimal(str(item["quantity"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise bad('Each lot needs an "id" and a "quantity".') from None
        if not shares.is_finite() or shares <= 0 or -shares.as_tuple().exponent > QUANTITY_PLACES:  # type: ignore[operator]
            raise bad(f"Lot {lot_id}: the quantity must be positive, at most {QUANTITY_PLACES} decimal places.")
        if lot_id in wanted:
            raise bad(f"Lot {lot_id} is named twice.")
        wanted[lot_id] = shares
    open_lots = dict(
        TaxLot.objects.filter(pk__in=list(wanted), account=account, security=security, quantity__gt=0).values_list(
            "pk", "quantity"
        )
    )
    for lot_id, shares in wanted.items():
        if lot_id not in open_lots:
            raise bad(f"Lot {lot_id} is not an open {security.symbol} lot of this account.")
        if shares > open_lots[lot_id]:
            raise bad(
                f"Lot {lot_id} holds {open_lots[lot_id].normalize():f} shares, fewer than {shares.normalize():f}."
            )
    total = sum(wanted.values(), ZERO)
    if total != quantity:
        raise bad(
            f"The lots' quantities add up to {total.normalize():f}, not the order's {quantity.normalize():f} shares."
        )
    return {"method": "specific", "lots": [{"id": k, "quantity": f"{v.normalize():f}"} for k, v in wanted.items()]}


def _lock_for_order(
    account: InvestmentAccount, security: Security
) -> tuple[InvestmentAccount, Decimal, Decimal, Decimal | None]:
    """Lock the account row (only it: not its household or firm), then read its cash, the cash
    its open buys and withdrawals awaiting cash hold back, and the security's latest price.

    Two statements on purpose: under READ COMMITTED a `SELECT … FOR UPDATE` that waited for
    the lock sees the locked row as committed, but its subqueries read the snapshot taken
    before the wait, i.e. the cash from before a withdrawal or fill that held the lock, and a
    buy could reserve cash that had just left. The read after the lock takes a new snapshot."""
    InvestmentAccount.objects.select_for_update(of=("self",)).filter(pk=account.pk).values_list("pk").get()
    held = (
        Order.objects.filter(account=OuterRef("pk"), side=Side.BUY, status__in=OPEN_STATES)
        .values("account")
        .annotate(s=Sum(Greatest(F("reserved_amount") - F("filled_amount"), Value(ZERO, output_field=MONEY))))
        .values("s")
    )
    waiting = (
        CashTransfer.objects.filter(account=OuterRef("pk"), status=CashTransfer.Status.AWAITING_CASH)
        .values("account")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    row = (
        InvestmentAccount.objects.select_related("household__firm")
        .annotate(
            _cash=Subquery(
                CashBalance.objects.filter(account=OuterRef("pk"), currency=OuterRef("base_currency")).values("amount")[
                    :1
                ],
                output_field=MONEY,
            ),
            _held=Subquery(held, output_field=MONEY),
            _waiting=Subquery(waiting, output_field=MONEY),
            _price=Subquery(
                Price.objects.filter(security_id=security.pk).order_by("-date").values("close")[:1],
                output_field=PRICE_FIELD,
            ),
        )
        .get(pk=account.pk)
    )
    cash = row._cash if row._cash is not None else ZERO  # type: ignore[attr-defined]
    held_amount = row._held if row._held is not None else ZERO  # type: ignore[attr-defined]
    # withdrawals waiting for their sales hold their amount too (`held_for_withdrawals`)
    held_amount += row._waiting or ZERO  # type: ignore[attr-defined]
    return row, cash, held_amount, row._price  # type: ignore[attr-defined]


@transaction.atomic
def order_review_decide(*, order: Order, approve: bool, acting_user: User, note: str = "") -> Order:
    """Compliance's decision on an order in review: approve (and queue it) or reject it.

    Refuses an order that is not pending review, and a rejection without a note (the note is
    the reason the advisor reads on the order)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != S.PENDING_REVIEW:
        raise TradingError(f"The order is {order.status_label.lower()}, not waiting for review.", code="not_in_review")
    note = note.strip()
    if not approve and not note:
        raise TradingError("Write why the order is rejected.", field="note", code="note_required")
    if approve:
        if waits_for_sells(order):
            order_transition(order, S.AWAITING_FUNDS, acting_user=acting_user, reason=note or "approved in review")
            release_funded_buys(proposal_id=order.proposal_id, account_id=order.account_id, acting_user=acting_user)  # type: ignore[arg-type]
            order.refresh_from_db()
        else:
            order = approve_and_queue(order, acting_user=acting_user, reason=note or "approved in compliance review")
    else:
        order = order_transition(
            order, S.REJECTED, acting_user=acting_user, reason=note or "rejected in compliance review"
        )
    order_reviewed_event(order, approved=approve, note=note)
    return order


@transaction.atomic
def order_cancel(*, order: Order, acting_user: User, reason: str = "") -> Order:
    """Cancel an order that has not filled.

    Before it reached the custodian it is cancelled at once (its queued submission is
    dropped); at the custodian a cancel request is queued and the order becomes cancelled
    when the custodian confirms. A filled or ended order is refused with TradingError."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status in END_STATES:
        raise TradingError(
            f"The order is already {order.status_label.lower()}; it cannot be cancelled.", code="illegal_transition"
        )
    if order.block_id is not None:
        # Its shares are part of the custodian's block order: cancelling it alone would leave
        # the block's quantity and the accounts' orders out of step.
        raise TradingError(
            f"The order is part of block order {order.block_id}; it cannot be cancelled alone.", code="in_block"
        )
    if order.status in AT_CUSTODIAN:
        pending = order.outbox.filter(kind=OutboxMessage.Kind.CANCEL_ORDER, status=OutboxMessage.Status.PENDING)
        if not pending.exists():
            OutboxMessage.objects.create(kind=OutboxMessage.Kind.CANCEL_ORDER, order=order)
            relay_after_commit()
        order.status_reason = reason or "cancel requested"
        return save_attributed(order, acting_user=acting_user, reason="cancel requested", validate=False)
    # Not at the custodian yet: the queued submission must not go out.
    for message in order.outbox.select_for_update().filter(status=OutboxMessage.Status.PENDING):
        message.status = OutboxMessage.Status.SKIPPED
        message.save(update_fields=["status"])
    return order_transition(order, S.CANCELLED, acting_user=acting_user, reason=reason or "cancelled")
