"""Rebalance proposals: run the rebalancing workflow for a chunk of accounts, store the
results in bulk, and turn an approved proposal into orders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from kronos.history import save_attributed
from portfolios import rebalancing
from portfolios.models import Security
from trading.errors import TradingError
from trading.lifecycle import OPEN_STATES
from trading.models import Order, ProposalTrade, RebalanceProposal, Side
from trading.services.common import ZERO, cents
from trading.services.orders import order_create

P = RebalanceProposal.Status
MONEY = DecimalField(max_digits=20, decimal_places=2)


INPUTS_VERSION = 1
HOLDING_COLUMNS = ["symbol", "quantity", "price", "target_weight", "restricted"]
WRITE_BATCH = 2000


def _s(value: Decimal) -> str:
    return format(value, "f")


def _inputs(snapshot: rebalancing.AccountSnapshot, reserved: Decimal) -> dict[str, Any]:
    """The compact inputs snapshot a proposal keeps: enough to reproduce and audit it (cash,
    cash held back by open buys, each holding's symbol, quantity, price and target, and the
    account's settings) — not every tax lot. Decimals as strings; built by hand (no
    `dataclasses.asdict`, whose deep copy of every lot was most of the old write cost)."""
    return {
        "v": INPUTS_VERSION,
        "as_of": snapshot.as_of.isoformat(),
        "currency": snapshot.currency,
        "cash": _s(snapshot.cash),
        "reserved_for_open_buys": _s(reserved),
        "cash_target": _s(snapshot.cash_target),
        "settings": {
            "threshold": _s(snapshot.threshold),
            "band_mode": str(snapshot.band_mode),
            "relative_band": _s(snapshot.relative_band),
            "cash_reserve": _s(snapshot.cash_reserve),
            "min_trade_amount": _s(snapshot.min_trade_amount),
            "fractional_shares": snapshot.fractional_shares,
            "commission_per_trade": _s(snapshot.commission_per_trade),
            "external_flow": _s(snapshot.external_flow),
        },
        "holding_columns": HOLDING_COLUMNS,
        "holdings": [
            [h.symbol, _s(h.quantity), _s(h.price), _s(h.target_weight), h.restricted] for h in snapshot.holdings
        ],
    }


def _drift_rows(report: rebalancing.DriftReport | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    return [
        {
            "symbol": r.symbol,
            "target_weight": _s(r.target_weight),
            "actual_weight": _s(r.actual_weight),
            "drift": _s(r.drift),
            "band": _s(r.band),
            "breached": r.breached,
        }
        for r in report.rows
    ]


def reserved_for_open_buys(account_ids: Sequence[int]) -> dict[int, Decimal]:
    """Cash each account's open buy orders still hold back (reserved minus filled), one query."""
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
    return {r["account_id"]: r["held"] or ZERO for r in rows}


def _run_workflow(account_ids: Sequence[int], as_of: date) -> tuple[dict[int, Any], dict[int, Any], dict[int, Decimal]]:
    """(snapshots, plans, reserved cash) for the accounts, the plans from B's Kailash
    workflow (portfolios.workflow) over the snapshots read in bulk. Each snapshot's cash is
    net of what open buy orders have reserved, so a proposal never spends it twice."""
    from portfolios.selectors import engine_snapshots

    snapshots = engine_snapshots(account_ids=account_ids, as_of=as_of)
    reserved = reserved_for_open_buys(list(snapshots))
    if reserved:
        snapshots = {a: replace(s, cash=s.cash - reserved[a]) if reserved.get(a) else s for a, s in snapshots.items()}
    from portfolios.workflow import run_rebalancing_workflow

    plans = run_rebalancing_workflow(snapshots=list(snapshots.values()), as_of=as_of)
    return snapshots, {int(k): v for k, v in plans.items()}, reserved


def proposal_create_for_accounts(
    *,
    account_ids: Sequence[int],
    acting_user: Any,
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
    model are skipped. Proposals, trades and their history rows are written in batches in
    one transaction.
    """
    as_of = as_of or timezone.localdate()
    ids = sorted({int(a) for a in account_ids})
    keys = {a: f"scheduled:{a}:{as_of.isoformat()}" for a in ids} if scheduled else {}
    existing: list[RebalanceProposal] = []
    if scheduled:
        existing = list(RebalanceProposal.objects.filter(run_key__in=keys.values()))
        done = {p.account_id for p in existing}
        ids = [a for a in ids if a not in done]
    if not ids:
        return existing
    snapshots, plans, reserved = _run_workflow(ids, as_of)
    try:
        created = proposals_store(
            account_ids=ids,
            snapshots=snapshots,
            plans=plans,
            reserved=reserved,
            acting_user=acting_user,
            as_of=as_of,
            run_keys=keys,
        )
    except IntegrityError:
        if not scheduled:
            raise
        # Another run of the job stored the same account-days first.
        return list(RebalanceProposal.objects.filter(run_key__in=keys.values()))
    return existing + created


def proposals_store(
    *,
    account_ids: Sequence[int],
    snapshots: dict[int, Any],
    plans: dict[int, Any],
    reserved: dict[int, Decimal],
    acting_user: Any,
    as_of: date,
    run_keys: dict[int, str],
) -> list[RebalanceProposal]:
    """The write half of `proposal_create_for_accounts`: store the plans of one chunk —
    superseded proposals expired, proposals, trades and all their history rows written in
    batches — in one transaction. Scheduled runs (`run_keys` given) store a slim record for
    an account that needs nothing."""
    ids = account_ids
    keys = run_keys
    scheduled = bool(run_keys)
    symbols = {t.symbol for plan in plans.values() for t in plan.trades}
    securities = dict(Security.objects.filter(symbol__in=symbols).values_list("symbol", "id"))
    now = timezone.now()
    proposals: list[RebalanceProposal] = []
    for account_id in ids:
        plan = plans.get(account_id)
        snapshot = snapshots.get(account_id)
        if plan is None or snapshot is None or not any(h.target_weight for h in snapshot.holdings):
            continue
        after = plan.drift_after
        needed = bool(plan.needed and plan.trades)
        slim = scheduled and not needed
        proposals.append(
            RebalanceProposal(
                account_id=account_id,
                needed=needed,
                as_of=as_of,
                run_key=keys.get(account_id),
                inputs=(
                    {"v": INPUTS_VERSION, "threshold": _s(snapshot.threshold), "band_mode": str(snapshot.band_mode)}
                    if slim
                    else _inputs(snapshot, reserved.get(account_id, ZERO))
                ),
                drift_before=[] if slim else _drift_rows(plan.drift_before),
                drift_after=[] if slim else _drift_rows(after),
                max_drift_before=plan.drift_before.max_drift,
                max_drift_after=after.max_drift if after is not None else None,
                estimated_cost=cents(plan.estimated_cost),
                realised_gain=cents(plan.realised_gain),
                notes=list(plan.notes),
                created_by=acting_user,
                created_at=now,
            )
        )
    with transaction.atomic():
        _expire_open([p.account_id for p in proposals], acting_user=acting_user)
        created = bulk_create_with_history(
            proposals,
            RebalanceProposal,
            batch_size=WRITE_BATCH,
            default_user=acting_user,
            default_change_reason="proposed",
            default_date=now,
        )
        if not all(p.pk for p in created):  # backends that don't return ids
            created = list(RebalanceProposal.objects.filter(account_id__in=ids, created_at=now))
        trades = []
        for proposal in created:
            if not proposal.needed:
                continue
            for position, trade in enumerate(plans[proposal.account_id].trades):
                security_id = securities.get(trade.symbol)
                if security_id is None:
                    raise TradingError(f"Unknown symbol {trade.symbol} in the plan.")
                trades.append(
                    ProposalTrade(
                        proposal=proposal,
                        security_id=security_id,
                        symbol=trade.symbol,
                        side=trade.side,
                        quantity=trade.quantity,
                        price=trade.price,
                        estimated_amount=cents(trade.estimated_amount),
                        realised_gain=cents(trade.realised_gain),
                        position=position,
                    )
                )
        if trades:
            bulk_create_with_history(
                trades,
                ProposalTrade,
                batch_size=WRITE_BATCH,
                default_user=acting_user,
                default_change_reason="proposed",
                default_date=now,
            )
    return list(created)


def _expire_open(account_ids: list[int], *, acting_user: Any) -> int:
    """Expire the open proposals of `account_ids` that a new proposal supersedes: one locking
    read, one bulk UPDATE and one bulk history insert. Only proposals that need trades are
    open in effect (a "no rebalance needed" record cannot be approved), so only those are
    expired — the nightly job does not rewrite every account's record each night."""
    if not account_ids:
        return 0
    stale = list(
        RebalanceProposal.objects.select_for_update()
        .filter(account_id__in=account_ids, status=P.PROPOSED, needed=True)
        .defer("inputs", "drift_before", "drift_after", "notes")
    )
    if not stale:
        return 0
    for old in stale:
        old.status = P.EXPIRED
    bulk_update_with_history(
        stale,
        RebalanceProposal,
        ["status"],
        batch_size=WRITE_BATCH,
        default_user=acting_user,
        default_change_reason="superseded",
    )
    return len(stale)


def _lock_open(proposal: RebalanceProposal) -> RebalanceProposal:
    proposal = RebalanceProposal.objects.select_for_update().select_related("account").get(pk=proposal.pk)
    if proposal.status != P.PROPOSED:
        raise TradingError(f"The proposal is {proposal.get_status_display().lower()}, not open.", code="not_open")
    return proposal


def proposal_approve(*, proposal: RebalanceProposal, acting_user: Any) -> list[Order]:
    """Approve an open proposal: one order per trade, each through `order_create` (with its
    pre-trade checks), sells first, all in one transaction — if any order cannot be made
    (say, the shares were sold meanwhile) nothing is made and the proposal stays open.
    Approving an approved proposal again returns its orders."""
    with transaction.atomic():
        locked = RebalanceProposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status == P.APPROVED:
            return list(locked.orders.order_by("id"))
        proposal = _lock_open(proposal)
        if not proposal.needed:
            raise TradingError("The account is inside its bands: there is nothing to trade.", code="not_needed")
        orders = []
        proceeds = ZERO
        for trade in proposal.trades.select_related("security").order_by("position", "id"):
            orders.append(
                order_create(
                    account=proposal.account,
                    security=trade.security,
                    side=trade.side,
                    quantity=trade.quantity,
                    acting_user=acting_user,
                    source=Order.Source.PROPOSAL,
                    idempotency_key=f"proposal:{proposal.pk}:trade:{trade.pk}",
                    proposal=proposal,
                    extra_buying_power=proceeds,
                )
            )
            if trade.side == Side.SELL:
                proceeds += trade.estimated_amount
        proposal.status = P.APPROVED
        proposal.decided_by = acting_user
        proposal.decided_at = timezone.now()
        save_attributed(proposal, acting_user=acting_user, reason="approved", validate=False)
        return orders


@transaction.atomic
def proposal_discard(*, proposal: RebalanceProposal, acting_user: Any) -> RebalanceProposal:
    """Discard an open proposal (nothing is traded). Refuses a proposal that is not open."""
    proposal = _lock_open(proposal)
    proposal.status = P.DISCARDED
    proposal.decided_by = acting_user
    proposal.decided_at = timezone.now()
    return save_attributed(proposal, acting_user=acting_user, reason="discarded", validate=False)
