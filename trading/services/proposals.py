"""Rebalance proposals: run the rebalancing workflow for a chunk of accounts, store the
results (`trading.services.proposal_store`), and approve or discard a proposal (its orders made
through `order_create`); whether a cash raise's sales are over without the cash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import User
from kronos.db import create_or_winner
from kronos.history import save_attributed
from portfolios.engine.memory import cyclic_gc_paused
from portfolios.engine.workflow import run_rebalancing_workflow
from portfolios.models import Security
from portfolios.selectors import engine_snapshots
from trading.errors import TradingError
from trading.lifecycle import OPEN_STATES, OrderStatus
from trading.models import Execution, HarvestRecord, Order, ProposalTrade, RebalanceProposal, Side
from trading.services.common import ZERO, held_for_withdrawals_of
from trading.services.events import proposal_event
from trading.services.orders import order_create
from trading.services.proposal_store import proposals_store
from trading.services.wash_guard import approval_wash_conflicts

P = RebalanceProposal.Status
MONEY = DecimalField(max_digits=20, decimal_places=2)


def reserved_for_open_buys(account_ids: Sequence[int]) -> dict[int, Decimal]:
    """Cash each account's open buy orders still hold back (reserved minus filled), and what its
    withdrawals waiting for their sales hold (`held_for_withdrawals`), in two queries."""
    held = held_for_withdrawals_of(account_ids)
    rows = (
        Order.objects.filter(account_id__in=account_ids, side=Side.BUY, status__in=OPEN_STATES)
        .values("account_id")
        .annotate(
            held=Sum(
                Greatest(F("reserved_amount") - F("filled_amount"), Value(ZERO, output_field=MONEY)),
                output_field=MONEY,
            )
        )
    )
    out = {r["account_id"]: r["held"] or ZERO for r in rows}
    for account_id, amount in held.items():
        out[account_id] = out.get(account_id, ZERO) + amount
    return out


def _run_workflow(account_ids: Sequence[int], as_of: date) -> tuple[dict[int, Any], dict[int, Any], dict[int, Decimal]]:
    """(snapshots, plans, reserved cash) for the accounts, the plans from B's Kailash
    workflow (portfolios.engine.workflow) over the snapshots read in bulk. Each snapshot's cash is
    net of what open buy orders have reserved, so a proposal never spends it twice."""
    snapshots = engine_snapshots(account_ids=account_ids, as_of=as_of)
    reserved = reserved_for_open_buys(list(snapshots))
    if reserved:
        snapshots = {a: replace(s, cash=s.cash - reserved[a]) if reserved.get(a) else s for a, s in snapshots.items()}
    plans = run_rebalancing_workflow(snapshots=list(snapshots.values()), as_of=as_of)
    return snapshots, {int(k): v for k, v in plans.items()}, reserved


def proposal_create_for_accounts(
    *,
    account_ids: Sequence[int],
    acting_user: User,
    as_of: date | None = None,
    scheduled: bool = False,
) -> list[RebalanceProposal]:
    """Run the rebalancing workflow over `account_ids` (one chunk) and store a proposal per
    account, with its trades, in bulk.

    Guaranteed: accounts inside their bands get `needed=False` and no trades — from the
    nightly job (`scheduled=True`) a slim record (max drift and the settings, no drift
    rows), so "no rebalance needed" is still stored and attributable but cheap; a newer
    proposal that needs trades expires the account's older open ones (one UPDATE-sized
    bulk write with history); with `scheduled=True` at most one proposal per account and
    day exists — a rerun returns the stored ones and writes nothing (the unique
    `run_key`). Cash reserved by open buy orders is not proposed again. Accounts without a
    model are skipped. Proposals, trades and the proposals' history rows are written in
    batches in one transaction (a trade's history starts at its first change: proposal_store).
    """
    as_of = as_of or timezone.localdate()
    ids = sorted({int(a) for a in account_ids})
    # Day first: a night's keys sort after every earlier night's, so the unique index on them
    # grows at its right edge, its pages full, not split in half across the accounts (85 bytes
    # an entry, about 45 so). The keys of the account-first form they replaced are looked up too
    # (a rerun of the day the form changed finds the proposals the first run stored).
    keys = {a: f"scheduled:{as_of.isoformat()}:{a}" for a in ids} if scheduled else {}
    existing: list[RebalanceProposal] = []
    if scheduled:
        earlier_form = [f"scheduled:{a}:{as_of.isoformat()}" for a in ids]
        existing = list(RebalanceProposal.objects.filter(run_key__in=[*keys.values(), *earlier_form]))
        done = {p.account_id for p in existing}
        ids = [a for a in ids if a not in done]
    if not ids:
        return existing
    # The chunk's snapshots (hundreds of thousands of acyclic objects) stay alive until it is
    # stored: the cyclic collector walking them took a third of a chunk's time after the workflow
    # had resumed it. Paused for the whole chunk (reference counting frees what it made; the
    # collector takes any cycle once it resumes).
    with cyclic_gc_paused():
        return _plan_and_store(ids, keys=keys, existing=existing, acting_user=acting_user, as_of=as_of)


def _plan_and_store(
    ids: list[int],
    *,
    keys: dict[int, str],
    existing: list[RebalanceProposal],
    acting_user: User,
    as_of: date,
) -> list[RebalanceProposal]:
    scheduled = bool(keys)
    snapshots, plans, reserved = _run_workflow(ids, as_of)

    def store() -> list[RebalanceProposal]:
        return existing + proposals_store(
            account_ids=ids,
            snapshots=snapshots,
            plans=plans,
            reserved=reserved,
            acting_user=acting_user,
            as_of=as_of,
            run_keys=keys,
        )

    def stored_first() -> list[RebalanceProposal] | None:
        # Another run of the job stored the same account-days first.
        return list(RebalanceProposal.objects.filter(run_key__in=keys.values())) if scheduled else None

    return create_or_winner(store, stored_first)


def proposal_trades_with_securities(proposal: RebalanceProposal) -> list[ProposalTrade]:
    """The proposal's trades in order, each with its security, in one query (rows or packed)."""
    if not proposal.packed_trades:
        return list(proposal.trades.select_related("security").order_by("position", "id"))
    trades = proposal.trade_list
    securities = Security.objects.in_bulk({t.security_id for t in trades})
    for trade in trades:
        trade.security = securities[trade.security_id]
    return trades


def _trade_key(proposal: RebalanceProposal, trade: ProposalTrade) -> str:
    """The idempotency key of the order a trade places: by its row's id, or a packed trade's place."""
    if trade.pk is None:
        return f"proposal:{proposal.pk}:position:{trade.position}"
    return f"proposal:{proposal.pk}:trade:{trade.pk}"


def _lock_open(proposal: RebalanceProposal) -> RebalanceProposal:
    proposal = RebalanceProposal.objects.select_for_update().select_related("account").get(pk=proposal.pk)
    if proposal.status != P.PROPOSED:
        raise TradingError(f"The proposal is {proposal.get_status_display().lower()}, not open.", code="not_open")
    return proposal


def proposal_approve(*, proposal: RebalanceProposal, acting_user: User) -> list[Order]:
    """Approve an open proposal: one order per trade, each through `order_create` (with its
    pre-trade checks), sells first, all in one transaction — if any order cannot be made
    (say, the shares were sold meanwhile) nothing is made and the proposal stays open.
    Approving an approved proposal again returns its orders.

    The buys are paid for by the proposal's own sells: a buy that the account's cash does not
    cover but the sells' proceeds do waits for them (`awaiting_funds`) and is sent when they
    fill (see `trading.services.orders.release_funded_buys`). An order that its checks reject or
    send to review, a buy short of cash even with the proceeds included, is written with its
    reason and named in the proposal's notes.

    Refused (`wash_sale`, nothing written) when approving now would make a wash sale in the
    household that was not there when the proposal was planned (`trading.services.wash_guard`)."""
    with transaction.atomic():
        locked = RebalanceProposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status == P.APPROVED:
            return list(locked.orders.order_by("id"))
        proposal = _lock_open(proposal)
        if not proposal.needed:
            raise TradingError("The account is inside its bands: there is nothing to trade.", code="not_needed")
        orders = []
        proceeds = ZERO
        checks: dict[Any, Any] = {}  # the account's facts, read by the first order's checks
        # A harvest's sells relieve the lots the harvest chose (its losses, highest cost first),
        # whatever the account's own relief method: under FIFO they would realise older gains.
        harvest = HarvestRecord.objects.filter(proposal=proposal).exists()
        trades = proposal_trades_with_securities(proposal)
        conflicts = approval_wash_conflicts(proposal, trades, harvest=harvest)
        if conflicts:
            raise TradingError(" ".join(conflicts), code="wash_sale")
        for trade in trades:
            orders.append(
                order_create(
                    account=proposal.account,
                    security=trade.security,
                    side=trade.side,
                    quantity=trade.quantity,
                    acting_user=acting_user,
                    source=Order.Source.PROPOSAL,
                    idempotency_key=_trade_key(proposal, trade),
                    proposal=proposal,
                    extra_buying_power=proceeds,
                    check_context=checks,
                    lot_selection={"method": "hifo"} if harvest and trade.side == Side.SELL else None,
                )
            )
            order = orders[-1]
            if trade.side == Side.SELL and order.status != OrderStatus.REJECTED:
                proceeds += trade.estimated_amount
        unplaced = [
            f"{o.security.symbol} {o.side} {o.status_label.lower()}: {o.status_reason}"
            for o in orders
            if o.status in (OrderStatus.REJECTED, OrderStatus.PENDING_REVIEW)
        ]
        if unplaced:
            proposal.notes = [*(proposal.notes or []), *unplaced]
        proposal.status = P.APPROVED
        proposal.decided_by = acting_user
        proposal.decided_at = timezone.now()
        save_attributed(proposal, acting_user=acting_user, reason="approved", validate=False)
        proposal_event(proposal)
        return orders


@transaction.atomic
def proposal_discard(*, proposal: RebalanceProposal, acting_user: User) -> RebalanceProposal:
    """Discard an open proposal (nothing is traded). Refuses a proposal that is not open."""
    proposal = _lock_open(proposal)
    proposal.status = P.DISCARDED
    proposal.decided_by = acting_user
    proposal.decided_at = timezone.now()
    save_attributed(proposal, acting_user=acting_user, reason="discarded", validate=False)
    proposal_event(proposal)
    return proposal


def cash_raise_shortfall(*, proposal: RebalanceProposal, amount: Decimal, available: Decimal) -> str | None:
    """Why a cash raise is over without the cash being there (a reason a user can read), or None
    while its sales may still bring it: the proposal is awaiting approval, or any of its orders is
    open, or any of its sales has not settled."""
    if proposal.status in (P.DISCARDED, P.EXPIRED):
        return f"The sale proposal raising the cash was {proposal.get_status_display().lower()}: nothing was paid out."
    if proposal.status != P.APPROVED:
        return None
    if proposal.orders.filter(status__in=OPEN_STATES).exists():
        return None
    if Execution.objects.filter(order__proposal=proposal, settled_at__isnull=True).exists():
        return None
    currency = proposal.account.base_currency
    return (
        f"The sales left {max(available, ZERO):,.2f} {currency} to pay out, short of {amount:,.2f} {currency}: "
        "nothing was paid out; the cash stays in the account."
    )
