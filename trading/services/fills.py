"""Fills: each booked once, under its unique custodian execution id. Events may arrive in any
order: an order's status is computed from the sum of its executions, never from the event's place
in the stream. A fill posts one journal entry (shares against the market, cash against the
custodian's clearing book), opens a tax lot for a buy or relieves lots highest-cost first for a
sell; T+1 (business days) the settlement run (`trading.services.settlement`) moves the cash from
clearing to the market.

A fill is booked only within its order: more than the order's remaining quantity, or a fill
for an order that has ended (filled, cancelled, rejected, failed) or was never sent, books
nothing and is recorded as a FillAnomaly for operations (the webhook answers 422)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import transaction
from django.db.models import Exists, Subquery
from django.utils import timezone

from accounts.models import User
from kronos import readcache
from kronos.history import save_attributed
from portfolios import ledger
from portfolios import services as portfolio_services
from portfolios.ledger import PostingSpec
from portfolios.models import InvestmentAccount, JournalEntry, LedgerBook, LotClosure
from trading.errors import TradingError
from trading.lifecycle import END_STATES, OrderStatus
from trading.models import Execution, FillAnomaly, Order, Side
from trading.services.common import PRICE, ZERO, add_business_days, cents
from trading.services.events import fill_event
from trading.services.order_status import order_transition

logger = logging.getLogger(__name__)
S = OrderStatus
SETTLEMENT_DAYS = 1
#: An order's firm, through its account (the read cache's path, `compliance.permissions.FIRM_SCOPE`).
ACCOUNT_FIRM = "account__household__firm_id"


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    execution_id: str
    quantity: Decimal
    price: Decimal
    trade_date: date
    order_quantity: Decimal | None = None
    #: The cash of the fill when it is not quantity x price to the cent: a block order's
    #: allocation, whose cents are shared so the accounts sum to the block exactly
    #: (`trading.services.blocks`).
    amount: Decimal | None = None


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


def _record_anomaly(
    *, order: Order, fill: Fill, reason: str, why: str, event_id: str, acting_user: User
) -> FillAnomaly:
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


def execution_apply(*, fill: Fill, acting_user: User) -> Execution | None:
    """Record one fill and post it to the ledger, once per execution id (None if seen before).

    Guaranteed in one transaction: the Execution, its journal entry, the tax lots, and the
    order's filled quantity, average price and status (computed from all its executions,
    so the fills' arrival order does not matter). Inside a caller's transaction it takes
    no savepoint: a failure rolls the caller back with it.

    A fill beyond the order's remaining quantity, or for an order that ended or was never
    sent, books nothing: it is recorded as a FillAnomaly (once per execution id) and raised
    as FillRefused after that record is written."""
    outcome = execute_fill(fill=fill, acting_user=acting_user)
    if isinstance(outcome, FillAnomaly):
        raise FillRefused(outcome)
    return outcome


def execute_fill(*, fill: Fill, acting_user: User, event_id: str = "") -> Execution | FillAnomaly | None:
    with transaction.atomic(savepoint=False):
        order = (
            # The order row and its account row only: the household and security rows it joins
            # stay unlocked, so fills of other orders (same security or firm) run side by side.
            # The account because withdrawals and new orders check cash against open buys under
            # its lock, and a fill changes both: without it a withdrawal could read the cash from
            # before a fill and the reservations from after it, and overdraw.
            Order.objects.select_for_update(of=("self", "account"))
            .select_related("account__household", "account__model", "security")
            .filter(client_order_id=fill.client_order_id)
            .first()
        )
        if order is None:
            raise TradingError(f"No order with client order id {fill.client_order_id!r}.", field="client_order_id")
        # Under the lock, in a statement of its own (one that started before the lock was
        # granted would not see a concurrent delivery's execution): booked before, or refused?
        booked, refused = (
            Order.objects.filter(pk=order.pk)
            .annotate(
                booked=Exists(Execution.objects.filter(execution_id=fill.execution_id)),
                refused=Subquery(FillAnomaly.objects.filter(execution_id=fill.execution_id).values("pk")[:1]),
            )
            .values_list("booked", "refused")
            .get()
        )
        if booked:
            return None
        if refused is not None:
            return FillAnomaly.objects.get(pk=refused)  # refused before: refused again, recorded once
        refusal = _anomaly_reason(order, fill)
        if refusal is not None:
            return _record_anomaly(
                order=order, fill=fill, reason=refusal[0], why=refusal[1], event_id=event_id, acting_user=acting_user
            )
        account, security = order.account, order.security
        # The rows this fill writes hang from the order and the account, whose firm is loaded:
        # the read cache need not look it up for their history rows.
        readcache.remember_firm(Order, [order.pk], ACCOUNT_FIRM, account.household.firm_id)
        readcache.remember_firm(InvestmentAccount, [account.pk], "household__firm_id", account.household.firm_id)
        amount = fill.amount if fill.amount is not None else cents(fill.quantity * fill.price)
        book, market, clearing = ledger.books_for(
            account, LedgerBook.Kind.MARKET, LedgerBook.Kind.CUSTODIAN_CLEARING, firm=account.household.firm_id
        )
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
            locked=True,  # the order and its account are locked, and the execution id is new
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
            method, chosen = _lot_choice(order)
            closures = portfolio_services.lots_relieve(
                account=account,
                security=security,
                quantity=fill.quantity,
                price=fill.price,
                closed_on=fill.trade_date,
                acting_user=acting_user,
                method=method,
                chosen=chosen,
                entry=entry,
                new_entry=True,
                savepoint=False,
            )
            gain = sum((c.gain for c in closures), ZERO)
        # Household-wide: a buy may wash a loss sale of the 30 days before it, in any account of
        # the household; a loss sale may be washed by a buy of the 30 days before it.
        portfolio_services.wash_sales_apply(
            household_id=account.household_id,
            security_id=security.pk,
            on=fill.trade_date,
            acting_user=acting_user,
            savepoint=False,
        )
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
        _refresh_order(order, fill=fill, execution=execution, acting_user=acting_user)
        fill_event(order, execution)
        return execution


def _lot_choice(order: Order) -> tuple[str | None, list[tuple[int, Decimal]]]:
    """The sell's lot relief: its `lot_selection` method (None: the account's), and for specific
    lots each named lot with the shares not yet taken from it by the order's earlier fills."""
    selection = order.lot_selection or {}
    method = selection.get("method")
    if method != "specific":
        return method, []
    taken: dict[int, Decimal] = {}
    for lot_id, quantity in LotClosure.objects.filter(
        entry__in=order.executions.values("entry"), lot__account_id=order.account_id
    ).values_list("lot_id", "quantity"):
        taken[lot_id] = taken.get(lot_id, ZERO) + quantity
    chosen = []
    for item in selection.get("lots", []):
        lot_id = int(item["id"])
        wanted = Decimal(str(item["quantity"]))
        chosen.append((lot_id, max(wanted - taken.pop(lot_id, ZERO), ZERO)))
    return None, chosen


_SUMMED = ("quantity", "price", "amount", "realised_gain")


def _as_stored(execution: Execution) -> tuple[Decimal, ...] | None:
    """The execution's summed values as its row holds them: None when one has more places than
    its column keeps (the database would round it, so only the row read back is exact)."""
    values = tuple(getattr(execution, name) for name in _SUMMED)
    for name, value in zip(_SUMMED, values, strict=True):
        exponent = value.as_tuple().exponent
        if not isinstance(exponent, int) or -exponent > Execution._meta.get_field(name).decimal_places:  # type: ignore[union-attr]
            return None
    return values


def _refresh_order(order: Order, *, fill: Fill, execution: Execution, acting_user: User) -> None:
    # The order's first execution (its filled quantity is the sum of its executions, each
    # positive, and its row is locked): the sums are this execution's own, nothing to read.
    first = _as_stored(execution) if order.filled_quantity == ZERO else None
    executions = [first] if first is not None else list(order.executions.values_list(*_SUMMED))
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
def fill_anomaly_resolve(*, anomaly: FillAnomaly, acting_user: User, note: str) -> FillAnomaly:
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
