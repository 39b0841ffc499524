"""Storing a chunk's rebalance plans as proposals, in bulk: superseded proposals expired,
proposals, trades and their history rows written in one transaction (on PostgreSQL by COPY)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from kronos import bulk, readcache
from portfolios.models import Security
from trading.errors import TradingError
from trading.models import ProposalTrade, RebalanceProposal
from trading.services.common import ZERO, cents
from trading.services.events import drift_breach_events_bulk, proposal_events_bulk
from trading.services.proposal_documents import (
    INPUTS_VERSION,
    JsonText,
    decimal_text,
    drift_derivable,
    drift_rows,
    inputs_document,
)

P = RebalanceProposal.Status


WRITE_BATCH = 2000


def proposals_store(
    *,
    account_ids: Sequence[int],
    snapshots: dict[int, Any],
    plans: dict[int, Any],
    reserved: dict[int, Decimal],
    acting_user: User,
    as_of: date,
    run_keys: dict[int, str],
) -> list[RebalanceProposal]:
    """The write half of `proposal_create_for_accounts`: store the plans of one chunk —
    superseded proposals expired, proposals, trades and all their history rows written in
    bulk (on PostgreSQL by COPY, see `_write_pg`) — in one transaction. Scheduled runs
    (`run_keys` given) store a slim record for an account that needs nothing."""
    ids = account_ids
    keys = run_keys
    scheduled = bool(run_keys)
    symbols = {t.symbol for plan in plans.values() for t in plan.trades}
    securities = dict(Security.objects.filter(symbol__in=symbols).values_list("symbol", "id"))
    now = timezone.now()
    stored: list[tuple[int, Any, Any, bool]] = []  # (account id, plan, snapshot, needed)
    for account_id in ids:
        plan = plans.get(account_id)
        snapshot = snapshots.get(account_id)
        if plan is None or snapshot is None or not any(h.target_weight for h in snapshot.holdings):
            continue
        stored.append((account_id, plan, snapshot, bool(plan.needed and plan.trades)))
    # The nightly scan (a scheduled run) tells the advisor of each account outside its bands.
    breaches = {a: plan.drift_before for a, plan, _, _ in stored if scheduled and plan.drift_before.breached}
    # A scheduled plan that trades exactly what the account's open proposal trades leaves that
    # proposal standing: nothing is expired or written for it (returned as it is).
    kept = _unchanged_open(stored, reserved) if scheduled else []
    if kept:
        unchanged = {p.account_id for p in kept}
        stored = [s for s in stored if s[0] not in unchanged]
    # The proposals whose drift rows follow from their inputs and trades keep only those.
    derived = {a for a, plan, snapshot, needed in stored if needed and drift_derivable(snapshot, plan)}
    if bulk.enabled():
        with transaction.atomic():
            # The accounts' firms: the read-cache scopes of what is expired and written.
            scopes = readcache.scopes_of(RebalanceProposal, [RebalanceProposal(account_id=a) for a, *_ in stored])
            _expire_open_pg([a for a, *_ in stored], acting_user=acting_user, now=now, scopes=scopes)
            written = _write_pg(
                stored,
                derived=derived,
                scopes=scopes,
                reserved=reserved,
                run_keys=keys,
                securities=securities,
                acting_user=acting_user,
                as_of=as_of,
                now=now,
            )
            drift_breach_events_bulk([*written, *kept], breaches=breaches)
            return [*written, *kept]
    proposals = [
        RebalanceProposal(
            account_id=account_id,
            needed=needed,
            as_of=as_of,
            run_key=keys.get(account_id),
            inputs=(
                {
                    "v": INPUTS_VERSION,
                    "threshold": decimal_text(snapshot.threshold),
                    "band_mode": str(snapshot.band_mode),
                }
                if scheduled and not needed
                else inputs_document(snapshot, reserved.get(account_id, ZERO), derived=account_id in derived)
            ),
            drift_before=[] if (scheduled and not needed) or account_id in derived else drift_rows(plan.drift_before),
            drift_after=[] if (scheduled and not needed) or account_id in derived else drift_rows(plan.drift_after),
            max_drift_before=plan.drift_before.max_drift,
            max_drift_after=plan.drift_after.max_drift if plan.drift_after is not None else None,
            estimated_cost=cents(plan.estimated_cost),
            realised_gain=cents(plan.realised_gain),
            notes=list(plan.notes),
            created_by=acting_user,
            created_at=now,
        )
        for account_id, plan, snapshot, needed in stored
    ]
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
        trades = [
            ProposalTrade(proposal=proposal, **dict(zip(TRADE_COLUMNS[1:], row, strict=True)))
            for proposal in created
            if proposal.needed
            for row in _trade_rows(plans[proposal.account_id], securities)
        ]
        if trades:
            bulk_create_with_history(
                trades,
                ProposalTrade,
                batch_size=WRITE_BATCH,
                default_user=acting_user,
                default_change_reason="proposed",
                default_date=now,
            )
        counts: dict[int, int] = {}
        for trade in trades:
            counts[trade.proposal.pk] = counts.get(trade.proposal.pk, 0) + 1
        proposal_events_bulk(created, trade_counts=counts)
        drift_breach_events_bulk([*created, *kept], breaches=breaches)
    return [*created, *kept]


def _unchanged_open(stored: list[tuple[int, Any, Any, bool]], reserved: dict[int, Decimal]) -> list[RebalanceProposal]:
    """The open proposals (one per account, needing trades) that tonight's plan would write
    again: the same trades -- security, side and quantity, in order -- planned from the same
    holdings, cash, targets and settings (its inputs equal tonight's but for the prices and the
    date). Three queries. Prices move every night; while the account and the orders a proposal
    would place stay the same, rewriting it (with its history) would store the same decision
    again, and its inputs still describe the account it would trade."""
    planned = {
        account_id: (tuple((t.symbol, str(t.side), t.quantity) for t in plan.trades), snapshot)
        for account_id, plan, snapshot, needed in stored
        if needed
    }
    if not planned:
        return []
    open_trades: dict[int, list[tuple[str, str, Decimal]]] = {}
    account_of: dict[int, int] = {}
    for proposal_id, account_id, symbol, side, quantity in (
        ProposalTrade.objects.filter(
            proposal__account_id__in=list(planned), proposal__status=P.PROPOSED, proposal__needed=True
        )
        .order_by("proposal_id", "position", "id")
        .values_list("proposal_id", "proposal__account_id", "symbol", "side", "quantity")
    ):
        open_trades.setdefault(proposal_id, []).append((symbol, side, quantity))
        account_of[proposal_id] = account_id
    by_account: dict[int, list[int]] = {}
    for proposal_id, account_id in account_of.items():
        by_account.setdefault(account_id, []).append(proposal_id)
    same_trades = [
        ids[0]
        for account_id, ids in by_account.items()
        if len(ids) == 1 and tuple(open_trades[ids[0]]) == planned[account_id][0]
    ]
    if not same_trades:
        return []
    same = [
        pk
        for pk, account_id, inputs in RebalanceProposal.objects.filter(pk__in=same_trades).values_list(
            "pk", "account_id", "inputs"
        )
        if _but_prices(inputs) == _but_prices(inputs_document(planned[account_id][1], reserved.get(account_id, ZERO)))
    ]
    return list(
        RebalanceProposal.objects.filter(pk__in=same, status=P.PROPOSED).defer(
            "inputs", "drift_before", "drift_after", "notes"
        )
    )


def _but_prices(inputs: dict[str, Any]) -> dict[str, Any]:
    """A proposal's inputs without its date and its holdings' prices (nor how its drift rows are
    kept): the account it planned for."""
    columns = inputs.get("holding_columns") or []
    price = columns.index("price") if "price" in columns else None
    return {
        **{k: v for k, v in inputs.items() if k not in ("as_of", "holdings", "drift")},
        "holdings": [[v for i, v in enumerate(row) if i != price] for row in inputs.get("holdings", [])],
    }


def _trade_rows(plan: Any, securities: dict[str, int]) -> list[tuple[Any, ...]]:
    """The plan's trades as ProposalTrade column values (TRADE_COLUMNS after proposal_id), in order."""
    rows = []
    for position, trade in enumerate(plan.trades):
        security_id = securities.get(trade.symbol)
        if security_id is None:
            raise TradingError(f"Unknown symbol {trade.symbol} in the plan.")
        rows.append(
            (
                security_id,
                trade.symbol,
                trade.side,
                trade.quantity,
                trade.price,
                cents(trade.estimated_amount),
                cents(trade.realised_gain),
                position,
            )
        )
    return rows


# --- The PostgreSQL write path: COPY, and history rows made by the database ---------------------
#
# The nightly scan writes a proposal per account and about seven trades per account that needs
# them, each with a history row: at 100,000 accounts that is well over a million rows a night.
# Through the ORM most of that time went into model instances and parameter lists, so on
# PostgreSQL the rows go in by COPY (the proposals with ids taken from their sequence first, so
# their trades can point at them) and their history rows are copied from them by INSERT ...
# SELECT in the same transaction -- the same rows simple_history's bulk_create_with_history
# writes (every tracked field, the date, the reason, the type and the acting user), without a
# second trip through Python. Expiry is one UPDATE whose RETURNING rows become the history rows.

PROPOSAL_COLUMNS = (
    "id",
    "account_id",
    "status",
    "needed",
    "as_of",
    "run_key",
    "inputs",
    "drift_before",
    "drift_after",
    "max_drift_before",
    "max_drift_after",
    "estimated_cost",
    "realised_gain",
    "notes",
    "created_by_id",
    "created_at",
    "decided_by_id",
    "decided_at",
)
TRADE_COLUMNS = (
    "proposal_id",
    "security_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "estimated_amount",
    "realised_gain",
    "position",
)


def _write_pg(
    stored: list[tuple[int, Any, Any, bool]],
    *,
    derived: set[int],
    reserved: dict[int, Decimal],
    run_keys: dict[int, str],
    securities: dict[str, int],
    acting_user: User,
    as_of: date,
    now: Any,
    scopes: set[str],
) -> list[RebalanceProposal]:
    """Write the chunk's proposals (`stored`: account id, plan, snapshot, needed) and trades by
    COPY, their JSON as text made by `JsonText`, and their history rows from them.

    The proposals returned carry no JSON from a scheduled run (the job reads only their
    status; the fields load from the row if read); otherwise the JSON parsed back, as the
    ORM path returns it."""
    if not stored:
        return []
    scheduled = bool(run_keys)
    text = JsonText()
    ids = bulk.next_ids(RebalanceProposal, len(stored))
    user_id = getattr(acting_user, "pk", None)
    rows = []
    for pk, (account_id, plan, snapshot, needed) in zip(ids, stored, strict=True):
        slim = scheduled and not needed
        after = plan.drift_after
        rows_kept = not slim and account_id not in derived
        rows.append(
            (
                pk,
                account_id,
                P.PROPOSED,
                needed,
                as_of,
                run_keys.get(account_id),
                (
                    text.slim_inputs(snapshot)
                    if slim
                    else text.inputs(snapshot, reserved.get(account_id, ZERO), derived=account_id in derived)
                ),
                text.drift(plan.drift_before) if rows_kept else "[]",
                text.drift(after) if rows_kept else "[]",
                plan.drift_before.max_drift,
                after.max_drift if after is not None else None,
                cents(plan.estimated_cost),
                cents(plan.realised_gain),
                text.strings(plan.notes),
                user_id,
                now,
                None,
                None,
            )
        )
    bulk.copy_rows(RebalanceProposal, bulk.check_columns(RebalanceProposal, PROPOSAL_COLUMNS), rows, scopes=scopes)
    bulk.history_from_table(
        RebalanceProposal,
        where="id = ANY(%s::bigint[])",
        params=[ids],
        acting_user=acting_user,
        reason="proposed",
        now=now,
        scopes=scopes,
    )
    needed_ids = [pk for pk, (_, _, _, needed) in zip(ids, stored, strict=True) if needed]
    trade_rows = [
        (pk, *row)
        for pk, (account_id, plan, _, needed) in zip(ids, stored, strict=True)
        if needed
        for row in _trade_rows(plan, securities)
    ]
    if trade_rows:
        bulk.copy_rows(
            ProposalTrade,
            bulk.check_columns(ProposalTrade, TRADE_COLUMNS, generated=["id"]),
            trade_rows,
            scopes=scopes,
        )
        bulk.history_from_table(
            ProposalTrade,
            where="proposal_id = ANY(%s::bigint[])",
            params=[needed_ids],
            acting_user=acting_user,
            reason="proposed",
            now=now,
            scopes=scopes,
        )
    proposals = [_instance(row, parse_json=not scheduled) for row in rows]
    counts: dict[int, int] = {}
    for row in trade_rows:
        counts[row[0]] = counts.get(row[0], 0) + 1
    # The chunk's events in the same transaction as its COPY: one INSERT for the chunk.
    proposal_events_bulk(proposals, trade_counts=counts)
    return proposals


_JSON_FIELDS = frozenset({"inputs", "drift_before", "drift_after", "notes"})


def _instance(row: tuple[Any, ...], *, parse_json: bool) -> RebalanceProposal:
    """The model instance of a COPY row: its JSON fields parsed, or left deferred (loaded if read)."""
    by_column = dict(zip(PROPOSAL_COLUMNS, row, strict=True))
    names = [f.attname for f in RebalanceProposal._meta.concrete_fields if parse_json or f.attname not in _JSON_FIELDS]
    values = [json.loads(by_column[n]) if n in _JSON_FIELDS else by_column[n] for n in names]
    return RebalanceProposal.from_db(connection.alias, names, values)


def _expire_open_pg(account_ids: list[int], *, acting_user: User, now: Any, scopes: set[str]) -> int:
    """`_expire_open` in one statement: the UPDATE's RETURNING rows become the '~' history rows
    (what bulk_update_with_history writes), so the expired rows never travel to Python."""
    if not account_ids:
        return 0
    readcache.touch(*scopes)
    table = connection.ops.quote_name(RebalanceProposal._meta.db_table)
    with connection.cursor() as cursor:
        if not bulk.history_enabled():
            cursor.execute(
                f"UPDATE {table} SET status = %s WHERE account_id = ANY(%s::bigint[]) AND status = %s AND needed",  # noqa: S608  # nosec B608 -- identifiers from model _meta, values as parameters
                [P.EXPIRED, list(account_ids), P.PROPOSED],
            )
            return cursor.rowcount
        history, columns, tracked = bulk.history_parts(RebalanceProposal)
        cursor.execute(
            f"WITH expired AS (UPDATE {table} SET status = %s "  # noqa: S608 -- identifiers from the models, values as parameters  # nosec B608 -- identifiers from model _meta or code, values as parameters
            f"WHERE account_id = ANY(%s::bigint[]) AND status = %s AND needed RETURNING {tracked}) "
            f"INSERT INTO {history} ({columns}) SELECT {tracked}, %s, %s, '~', %s FROM expired",
            [P.EXPIRED, list(account_ids), P.PROPOSED, now, "superseded", getattr(acting_user, "pk", None)],
        )
        return cursor.rowcount


def _expire_open(account_ids: list[int], *, acting_user: User) -> int:
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
