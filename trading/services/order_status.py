"""An order's status moves after it is made: the lifecycle step (with history and its event),
approval with the submission queued in the outbox, and a proposal's buys released as its own sells
fill (`release_funded_buys`)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import F, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import User
from kronos.history import save_attributed
from portfolios.models import CashBalance, InvestmentAccount
from trading.lifecycle import END_STATES, OPEN_STATES, OrderStatus, check_transition
from trading.models import Order, OutboxMessage, RebalanceProposal, Side
from trading.services.common import MONEY, QUANTITY, ZERO, cents_up, held_for_withdrawals_of, relay_after_commit
from trading.services.events import order_event

S = OrderStatus
#: A proposal's sell moving to one of these may have freed cash for the buys it pays for.
SELL_PROGRESS = frozenset({S.PARTIALLY_FILLED, S.FILLED}) | END_STATES


def order_transition(order: Order, target: str, *, acting_user: User, reason: str = "") -> Order:
    """Move `order` (locked by the caller) to `target` if the lifecycle allows it, with history."""
    check_transition(order.status, target)
    order.status = target
    if reason:
        order.status_reason = reason
    now = timezone.now()
    if target == S.SUBMITTED and order.submitted_at is None:
        order.submitted_at = now
    if target in END_STATES:
        order.closed_at = now
    save_attributed(order, acting_user=acting_user, reason=f"order {target}", validate=False)
    order_event(order)
    if order.proposal_id and order.side == Side.SELL and target in SELL_PROGRESS:
        # A proposal's sell filled (in part) or ended: the buys its proceeds pay for may go.
        release_funded_buys(proposal_id=order.proposal_id, account_id=order.account_id, acting_user=acting_user)
    return order


def queue_submission(order: Order) -> None:
    OutboxMessage.objects.create(kind=OutboxMessage.Kind.SUBMIT_ORDER, order=order)
    relay_after_commit()


def approve_and_queue(order: Order, *, acting_user: User, reason: str) -> Order:
    order_transition(order, S.APPROVED, acting_user=acting_user, reason=reason)
    queue_submission(order)
    return order


# --- A proposal's buys paid for by its own sells -------------------------------------------------
#
# DESIGN: "a proposal's buys are funded by its own sells". A buy that the account's buying power
# (cash minus what open buys reserve) cannot pay for, but that the unspent proceeds of the
# proposal's sells can, is made `awaiting_funds`: it passes its pre-trade checks then (the funds
# rule counts those proceeds), holds its reservation (so neither a new order nor a withdrawal can
# take the cash it is waiting for), and is not sent. Each time one of the proposal's sells fills
# (in part) or ends, `release_funded_buys` sends, in order, every waiting buy that the buying power
# now covers — the same test `order_create` makes, under the same account lock, so a buy never goes
# out on cash that is not there. Once every sell has ended, a buy the proceeds still do not cover
# (a sell rejected, cancelled or partly filled, or filled lower than estimated) is cut to what the
# cash buys, or rejected, and the reason is written on the order and the proposal's notes.


def awaiting_reason(needed: Decimal, currency: str) -> str:
    return (
        f"Waits for the proposal's sells: {needed:,.2f} {currency} of the cost comes from their proceeds; "
        "it is sent when they fill."
    )


def waits_for_sells(order: Order) -> bool:
    """A proposal's buy whose proposal still has a sell open (so it must wait for its cash)."""
    if order.side != Side.BUY or not order.proposal_id:
        return False
    return Order.objects.filter(proposal_id=order.proposal_id, side=Side.SELL, status__in=OPEN_STATES).exists()


def _free_cash(account_id: int, currency: str) -> Decimal:
    """The account's cash minus what its open buys reserve, the waiting ones left out, and
    minus what withdrawals waiting for their sales hold."""
    cash = (
        CashBalance.objects.filter(account_id=account_id, currency=currency).values_list("amount", flat=True).first()
        or ZERO
    )
    held = Order.objects.filter(
        account_id=account_id, side=Side.BUY, status__in=OPEN_STATES - {S.AWAITING_FUNDS}
    ).aggregate(s=Sum(Greatest(F("reserved_amount") - F("filled_amount"), Value(ZERO, output_field=MONEY))))["s"]
    return cash - (held or ZERO) - held_for_withdrawals_of([account_id]).get(account_id, ZERO)


def release_funded_buys(*, proposal_id: int, account_id: int, acting_user: User) -> list[Order]:
    """Send the proposal's waiting buys that the account's cash now pays for; once its sells
    have all ended, cut or reject (with the reason, on the order and the proposal) the ones it
    does not. Returns the buys released. Idempotent: a released buy is no longer waiting."""
    with transaction.atomic():
        if not Order.objects.filter(proposal_id=proposal_id, status=S.AWAITING_FUNDS).exists():
            return []
        InvestmentAccount.objects.select_for_update(of=("self",)).filter(pk=account_id).values_list("pk").get()
        waiting = list(
            Order.objects.select_for_update(of=("self",))
            .select_related("security", "account")
            .filter(proposal_id=proposal_id, status=S.AWAITING_FUNDS)
            .order_by("id")
        )
        if not waiting:
            return []
        free = _free_cash(account_id, waiting[0].account.base_currency)
        sells_open = Order.objects.filter(proposal_id=proposal_id, side=Side.SELL, status__in=OPEN_STATES).exists()
        released: list[Order] = []
        notes: list[str] = []
        for order in waiting:
            if order.reserved_amount <= free:
                free -= order.reserved_amount
                approve_and_queue(order, acting_user=acting_user, reason="funded by the proposal's sells")
                released.append(order)
                continue
            if sells_open:
                continue  # more proceeds are coming
            note = _cut_to_cash(order, free, acting_user=acting_user)
            notes.append(note)
            if order.status == S.APPROVED:
                free -= order.reserved_amount
                released.append(order)
        if notes:
            proposal = RebalanceProposal.objects.select_for_update().get(pk=proposal_id)
            proposal.notes = [*(proposal.notes or []), *notes]
            save_attributed(proposal, acting_user=acting_user, reason="buys short of cash", validate=False)
        return released


def _cut_to_cash(order: Order, free: Decimal, *, acting_user: User) -> str:
    """A waiting buy the ended sells did not pay for: buy what `free` pays for (whole shares unless
    the account allows fractions), or reject it. Returns the reason, naming the security."""
    symbol, currency = order.security.symbol, order.account.base_currency
    price = (
        order.limit_price if order.order_type == Order.OrderType.LIMIT and order.limit_price else order.estimated_price
    )
    unit = QUANTITY if order.account.fractional_shares else Decimal(1)
    quantity = ZERO
    if order.quantity is not None and free > ZERO and price > ZERO:
        quantity = min((free / price).quantize(unit, ROUND_DOWN), order.quantity)
        while quantity > ZERO and cents_up(quantity * price) > free:
            quantity -= unit
    if quantity > ZERO:
        before = order.quantity
        order.quantity = quantity
        order.reserved_amount = cents_up(quantity * price)
        reason = (
            f"{symbol} buy cut from {before.normalize():f} to {quantity.normalize():f} shares: the proposal's sells "  # type: ignore[union-attr]
            f"raised less than planned ({free:,.2f} {currency} was available)."
        )
        approve_and_queue(order, acting_user=acting_user, reason=reason)
        return reason
    reason = (
        f"Not enough cash for {symbol}: the buy needs {order.reserved_amount:,.2f} {currency} and the proposal's "
        f"sells left {max(free, ZERO):,.2f} available."
    )
    order_transition(order, S.REJECTED, acting_user=acting_user, reason=reason)
    return reason
