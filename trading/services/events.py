"""The trading domain's events (see accounts/services/events.py): orders, fills, transfers, proposals.

Each helper is called by the service that makes the change, inside its transaction. They
read the account's household (and its firm) from the instance when it is loaded, else with
one query, and the security's symbol the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from accounts.services import EventSpec, event_emit, events_emit_bulk
from kronos.api.fields import decimal_to_str, money_dict
from portfolios.models import InvestmentAccount
from trading.models import CashTransfer, Execution, Order, RebalanceProposal


def _d(value: Decimal | None) -> str | None:
    return None if value is None else decimal_to_str(value)


def _scope(account: InvestmentAccount) -> tuple[int, int]:
    """(firm id, household id) of an account; its household is loaded once and kept."""
    return account.household.firm_id, account.household_id


def _scopes(account_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    rows = InvestmentAccount.objects.filter(pk__in=set(account_ids)).values_list(
        "pk", "household__firm_id", "household_id"
    )
    return {pk: (firm, household) for pk, firm, household in rows}


def _emit(
    kind: str, subject_type: str, subject: Order | CashTransfer | RebalanceProposal, payload: dict[str, Any]
) -> None:
    """One event about `subject` (an order, transfer or proposal: anything with an account)."""
    firm_id, household_id = _scope(subject.account)
    event_emit(
        kind=kind,
        firm=firm_id,
        household=household_id,
        account=subject.account_id,
        subject_type=subject_type,
        subject_id=subject.pk,
        payload=payload,
    )


def _emit_bulk(
    kind: str,
    subject_type: str,
    subjects: Sequence[Any],
    scopes: dict[int, tuple[int, int]],
    payload: Callable[[Any], dict[str, Any]],
) -> None:
    """One event per subject (each with `account_id`), in one INSERT; `scopes` maps each
    account id to its (firm id, household id)."""
    events_emit_bulk(
        [
            EventSpec(
                kind=kind,
                firm_id=scopes[x.account_id][0],
                household_id=scopes[x.account_id][1],
                account_id=x.account_id,
                subject_type=subject_type,
                subject_id=x.pk,
                payload=payload(x),
            )
            for x in subjects
        ]
    )


def order_payload(order: Order) -> dict[str, Any]:
    return {
        "order": order.pk,
        "account": order.account_id,
        "client_order_id": order.client_order_id,
        "symbol": order.security.symbol,
        "side": order.side,
        "order_type": order.order_type,
        "quantity": _d(order.quantity),
        "amount": _d(order.amount),
        "limit_price": _d(order.limit_price),
        "status": order.status,
        "status_reason": order.status_reason,
        "filled_quantity": _d(order.filled_quantity),
        "average_price": _d(order.average_price),
        "source": order.source,
        "proposal": order.proposal_id,
    }


def order_event(order: Order) -> None:
    """`order.updated`: an order was created or changed status."""
    _emit("order.updated", "order", order, order_payload(order))


def order_events_bulk(orders: Sequence[Order]) -> None:
    """`order.updated` for a batch of orders (the relay's bulk submission), in one INSERT."""
    if not orders:
        return
    if all(InvestmentAccount.household.is_cached(o.account) for o in orders):  # type: ignore[attr-defined]
        scopes = {o.account_id: _scope(o.account) for o in orders}
    else:
        scopes = _scopes(o.account_id for o in orders)
    _emit_bulk("order.updated", "order", orders, scopes, order_payload)


def fill_event(order: Order, execution: Execution) -> None:
    """`order.filled`: one fill (an execution) of an order, with the order's state after it."""
    _emit(
        "order.filled",
        "order",
        order,
        {
            **order_payload(order),
            "execution_id": execution.execution_id,
            "fill_quantity": _d(execution.quantity),
            "fill_price": _d(execution.price),
            "fill_amount": money_dict(execution.amount, order.account.base_currency),
            "trade_date": execution.trade_date,
            "settle_date": execution.settle_date,
        },
    )


def transfer_event(transfer: CashTransfer) -> None:
    """`transfer.updated`: a deposit or withdrawal was requested or changed status."""
    _emit(
        "transfer.updated",
        "transfer",
        transfer,
        {
            "transfer": transfer.pk,
            "account": transfer.account_id,
            "direction": transfer.direction,
            "amount": money_dict(transfer.amount, transfer.currency),
            "status": transfer.status,
            "failure_reason": transfer.failure_reason,
        },
    )


def _proposal_payload(proposal: RebalanceProposal, trades: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "proposal": proposal.pk,
        "account": proposal.account_id,
        "status": proposal.status,
        "as_of": proposal.as_of,
        "max_drift_before": _d(proposal.max_drift_before),
        "max_drift_after": _d(proposal.max_drift_after),
        "estimated_cost": _d(proposal.estimated_cost),
    }
    if trades is not None:
        payload["trades"] = trades
    return payload


def proposal_events_bulk(proposals: Sequence[RebalanceProposal], *, trade_counts: dict[int, int]) -> None:
    """`proposal.created` for the proposals of a chunk that propose trades (a "no rebalance
    needed" record is not an event), in one INSERT in the chunk's transaction."""
    needed = [p for p in proposals if p.needed]
    if not needed:
        return
    scopes = _scopes(p.account_id for p in needed)
    _emit_bulk(
        "proposal.created", "proposal", needed, scopes, lambda p: _proposal_payload(p, trade_counts.get(p.pk, 0))
    )


def proposal_event(proposal: RebalanceProposal) -> None:
    """`proposal.updated`: approved or discarded."""
    _emit("proposal.updated", "proposal", proposal, _proposal_payload(proposal))


def drift_breach_events_bulk(proposals: Sequence[RebalanceProposal], *, breaches: dict[int, Any]) -> None:
    """`drift.breached` for each account of a nightly scan's chunk outside its bands (`breaches`:
    account id -> its drift report), with the rows that breach, in one INSERT in the chunk's
    transaction."""
    subjects = [p for p in proposals if p.account_id in breaches]
    if not subjects:
        return

    def payload(p: RebalanceProposal) -> dict[str, Any]:
        report = breaches[p.account_id]
        return {
            "account": p.account_id,
            "proposal": p.pk,
            "as_of": p.as_of,
            "max_drift": _d(report.max_drift),
            "breaches": [
                {"symbol": r.symbol, "drift": _d(r.drift), "band": _d(r.band)} for r in report.rows if r.breached
            ],
        }

    _emit_bulk("drift.breached", "proposal", subjects, _scopes(p.account_id for p in subjects), payload)


def order_reviewed_event(order: Order, *, approved: bool, note: str) -> None:
    """`order.reviewed`: compliance's decision on an order held for review, with its note."""
    _emit(
        "order.reviewed",
        "order",
        order,
        {**order_payload(order), "decision": "approved" if approved else "rejected", "note": note},
    )
