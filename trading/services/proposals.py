"""Rebalance proposals: run the rebalancing workflow for a chunk of accounts, store the
results in bulk, and turn an approved proposal into orders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from kronos.history import save_attributed
from portfolios import rebalancing
from portfolios.models import Security
from trading.errors import TradingError
from trading.models import Order, ProposalTrade, RebalanceProposal, Side
from trading.services.common import ZERO, cents
from trading.services.orders import order_create

P = RebalanceProposal.Status


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _drift_rows(report: rebalancing.DriftReport | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    return [_jsonable(row) for row in report.rows]


def _run_workflow(account_ids: Sequence[int], as_of: date) -> tuple[dict[int, Any], dict[int, Any]]:
    """(snapshots, plans) for the accounts: B's Kailash workflow when it is installed, else
    the same four engine steps called directly."""
    from portfolios.selectors import engine_snapshots

    snapshots = engine_snapshots(account_ids=account_ids, as_of=as_of)
    try:
        from portfolios.workflow import run_rebalancing_workflow
    except ImportError:
        run_rebalancing_workflow = None
    if run_rebalancing_workflow is not None:
        plans = run_rebalancing_workflow(snapshots=list(snapshots.values()), as_of=as_of)
    else:
        plans = {
            account_id: rebalancing.generate_trades(s, rebalancing.calculate_drift(s))
            for account_id, s in snapshots.items()
        }  # type: ignore[attr-defined]
    return snapshots, {int(k): v for k, v in plans.items()}


def proposal_create_for_accounts(
    *,
    account_ids: Sequence[int],
    acting_user: Any,
    as_of: date | None = None,
    scheduled: bool = False,
) -> list[RebalanceProposal]:
    """Run the rebalancing workflow over `account_ids` (one chunk) and store a proposal per
    account, with its trades, in bulk.

    Guaranteed: accounts inside their bands get `needed=False` and no trades; a newer
    proposal expires the account's older open ones; with `scheduled=True` (the nightly
    job) at most one proposal per account and day exists — a rerun returns the stored
    ones and writes nothing (the unique `run_key`). Accounts without a model are skipped.
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
    snapshots, plans = _run_workflow(ids, as_of)
    symbols = {h.symbol for plan in plans.values() for h in plan.trades}
    securities = {s.symbol: s for s in Security.objects.filter(symbol__in=symbols)}
    now = timezone.now()
    try:
        with transaction.atomic():
            proposals = []
            for account_id in ids:
                plan = plans.get(account_id)
                snapshot = snapshots.get(account_id)
                if plan is None or snapshot is None or not any(h.target_weight for h in snapshot.holdings):
                    continue
                after = plan.drift_after
                proposals.append(
                    RebalanceProposal(
                        account_id=account_id,
                        needed=bool(plan.needed and plan.trades),
                        as_of=as_of,
                        run_key=keys.get(account_id),
                        inputs=_jsonable(snapshot),
                        drift_before=_drift_rows(plan.drift_before),
                        drift_after=_drift_rows(after),
                        max_drift_before=plan.drift_before.max_drift,
                        max_drift_after=after.max_drift if after is not None else None,
                        estimated_cost=cents(plan.estimated_cost),
                        realised_gain=cents(plan.realised_gain),
                        notes=list(plan.notes),
                        created_by=acting_user,
                        created_at=now,
                    )
                )
            stale = list(
                RebalanceProposal.objects.select_for_update().filter(
                    account_id__in=[p.account_id for p in proposals], status=P.PROPOSED
                )
            )
            for old in stale:
                old.status = P.EXPIRED
            if stale:
                bulk_update_with_history(
                    stale, RebalanceProposal, ["status"], default_user=acting_user, default_change_reason="superseded"
                )
            created = bulk_create_with_history(
                proposals, RebalanceProposal, default_user=acting_user, default_change_reason="proposed"
            )
            if not all(p.pk for p in created):  # backends that don't return ids
                created = list(RebalanceProposal.objects.filter(account_id__in=ids, created_at=now))
            trades = []
            for proposal in created:
                plan = plans[proposal.account_id]
                if not proposal.needed:
                    continue
                for position, trade in enumerate(plan.trades):
                    security = securities.get(trade.symbol)
                    if security is None:
                        raise TradingError(f"Unknown symbol {trade.symbol} in the plan.")
                    trades.append(
                        ProposalTrade(
                            proposal=proposal,
                            security=security,
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
                    trades, ProposalTrade, default_user=acting_user, default_change_reason="proposed"
                )
    except IntegrityError:
        if not scheduled:
            raise
        # Another run of the job stored the same account-days first.
        return list(RebalanceProposal.objects.filter(run_key__in=keys.values()))
    return existing + list(created)


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
