"""Storing a chunk's rebalance plans as proposals, in bulk: superseded proposals expired,
proposals, trades and their history rows written in one transaction (on PostgreSQL by COPY).

The nightly scan's proposals (a scheduled run's) pack their trades into one column
(`trading.packed_trades`); the others keep rows. A proposal's history rows carry what moves --
its status and who decided when -- not what it proposed (its row keeps that, never changed).

The expiry of a superseded proposal is recorded by the proposal that supersedes it: its
`supersedes` names the account's newest expired proposal, in its '+' history row (the same
user, time and transaction), so that status move writes no '~' row of its own (a second open
proposal expired at once gets one, "superseded"). A night that rewrites every plan thus
writes one history row an account, not two.

A proposed trade's history starts at its first change. The trades are written with their
proposal, in its transaction, by its acting user, and the proposal's '+' history row records
that write; until one of them changes (only a split does: `corporate_actions`, which first
unpacks a packed proposal's trades into rows), the trade row itself is its as-proposed state,
never rewritten. Before that first change, `trades_history_as_proposed` writes the trade's '+'
row as it was proposed (the proposal's time and user), then the change writes its '~' row: the
audit trail holds every state a trade had and who made it, without a second copy of every trade
of every night.

Measured (`bench.bench_batch`, 4,000 accounts, every close up 3% a night so every plan moves):
1,745 bytes an account-night with trades as rows, two history rows an account and the
history repeating what was proposed; 885 with all three changes."""

from __future__ import annotations

import hashlib
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
from trading.drift_documents import join_inputs
from trading.errors import TradingError
from trading.models import ProposalDocument, ProposalTrade, RebalanceProposal
from trading.packed_trades import pack, packable
from trading.services.common import ZERO, cents
from trading.services.events import drift_breach_events_bulk, proposal_events_bulk
from trading.services.proposal_documents import (
    JsonText,
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
            superseded = _expire_open_pg([a for a, *_ in stored], acting_user=acting_user, now=now, scopes=scopes)
            written = _write_pg(
                stored,
                superseded=superseded,
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
    text = JsonText()
    parts, documents = _input_parts(stored, text=text, reserved=reserved, derived=derived, scheduled=scheduled)
    packed = _packed(stored, securities, scheduled=scheduled)
    proposals = [
        RebalanceProposal(
            account_id=account_id,
            needed=needed,
            as_of=as_of,
            run_key=keys.get(account_id),
            inline_inputs={} if account_id in parts else json.loads(text.slim_inputs(snapshot)),
            drift_before=[] if (scheduled and not needed) or account_id in derived else drift_rows(plan.drift_before),
            drift_after=[] if (scheduled and not needed) or account_id in derived else drift_rows(plan.drift_after),
            max_drift_before=plan.drift_before.max_drift,
            max_drift_after=plan.drift_after.max_drift if plan.drift_after is not None else None,
            estimated_cost=cents(plan.estimated_cost),
            realised_gain=cents(plan.realised_gain),
            notes=list(plan.notes),
            packed_trades=packed.get(account_id, ""),
            created_by=acting_user,
            created_at=now,
        )
        for account_id, plan, snapshot, needed in stored
    ]
    with transaction.atomic():
        document_ids = _store_documents(documents)
        for proposal in proposals:
            refs = parts.get(proposal.account_id)
            if refs:
                proposal.inputs_ref_id, proposal.prices_ref_id = document_ids[refs[0]], document_ids[refs[1]]
        superseded = _expire_open([p.account_id for p in proposals], acting_user=acting_user)
        for proposal in proposals:
            proposal.supersedes_id = superseded.get(proposal.account_id)
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
        for proposal in created:
            joined = _parts_text(parts.get(proposal.account_id), documents)
            if joined is not None:
                proposal.__dict__["inputs"] = join_inputs(json.loads(joined[0]), json.loads(joined[1]))
        trades = [
            ProposalTrade(proposal=proposal, **dict(zip(TRADE_COLUMNS[1:], row, strict=True)))
            for proposal in created
            if proposal.needed and proposal.account_id not in packed
            for row in _trade_rows(plans[proposal.account_id], securities)
        ]
        if trades:  # their history starts at their first change (the module docstring)
            ProposalTrade.objects.bulk_create(trades, batch_size=WRITE_BATCH)
        counts: dict[int, int] = {p.pk: len(plans[p.account_id].trades) for p in created if p.account_id in packed}
        for trade in trades:
            counts[trade.proposal.pk] = counts.get(trade.proposal.pk, 0) + 1
        proposal_events_bulk(created, trade_counts=counts)
        drift_breach_events_bulk([*created, *kept], breaches=breaches)
    return [*created, *kept]


def _unchanged_open(stored: list[tuple[int, Any, Any, bool]], reserved: dict[int, Decimal]) -> list[RebalanceProposal]:
    """The open proposals (one per account, needing trades) that tonight's plan would write
    again: the same trades -- security, side and quantity, in order -- planned from the same
    holdings, cash, targets and settings (its inputs equal tonight's but for the prices and the
    date). Four queries. Prices move every night; while the account and the orders a proposal
    would place stay the same, rewriting it (with its history) would store the same decision
    again, and its inputs still describe the account it would trade. The open proposals' trades
    are read as rows and packed (`trading.packed_trades`)."""
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
    for proposal in RebalanceProposal.objects.filter(
        account_id__in=list(planned), status=P.PROPOSED, needed=True, packed_trades__gt=""
    ).only("pk", "account_id", "packed_trades"):
        open_trades[proposal.pk] = [(t.symbol, t.side, t.quantity) for t in proposal.trade_list]
        account_of[proposal.pk] = proposal.account_id
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
        for pk, account_id, inline, account_part, prices in RebalanceProposal.objects.filter(
            pk__in=same_trades
        ).values_list("pk", "account_id", "inline_inputs", "inputs_ref__document", "prices_ref__document")
        if _but_prices(join_inputs(account_part, prices) if account_part is not None and prices is not None else inline)
        == _but_prices(inputs_document(planned[account_id][1], reserved.get(account_id, ZERO)))
    ]
    return list(RebalanceProposal.objects.filter(pk__in=same, status=P.PROPOSED).defer(*_JSON_FIELDS))


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


def _packed(stored: list[tuple[int, Any, Any, bool]], securities: dict[str, int], *, scheduled: bool) -> dict[int, str]:
    """The packed trades (`trading.packed_trades`) of a scheduled run's proposals that need trades,
    by account: the nightly scan's. A plan with a symbol the packing cannot hold keeps rows."""
    if not scheduled:
        return {}
    out = {}
    for account_id, plan, _, needed in stored:
        if needed:
            rows = _trade_rows(plan, securities)
            if all(packable(row[1]) for row in rows):
                out[account_id] = pack((row[:-1] for row in rows), ProposalTrade)
    return out


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
    "inputs_ref_id",
    "prices_ref_id",
    "drift_before",
    "drift_after",
    "max_drift_before",
    "max_drift_after",
    "estimated_cost",
    "realised_gain",
    "notes",
    "trades_packed",
    "supersedes_id",
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
    superseded: dict[int, int],
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
    parts, documents = _input_parts(stored, text=text, reserved=reserved, derived=derived, scheduled=scheduled)
    document_ids = _store_documents(documents)
    packed = _packed(stored, securities, scheduled=scheduled)
    rows = []
    for pk, (account_id, plan, snapshot, needed) in zip(ids, stored, strict=True):
        slim = scheduled and not needed
        after = plan.drift_after
        rows_kept = not slim and account_id not in derived
        refs = parts.get(account_id)
        rows.append(
            (
                pk,
                account_id,
                P.PROPOSED,
                needed,
                as_of,
                run_keys.get(account_id),
                text.slim_inputs(snapshot) if slim else "{}",
                document_ids[refs[0]] if refs else None,
                document_ids[refs[1]] if refs else None,
                text.drift(plan.drift_before) if rows_kept else "[]",
                text.drift(after) if rows_kept else "[]",
                plan.drift_before.max_drift,
                after.max_drift if after is not None else None,
                cents(plan.estimated_cost),
                cents(plan.realised_gain),
                text.strings(plan.notes),
                packed.get(account_id, ""),
                superseded.get(account_id),
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
    trade_rows = [
        (pk, *row)
        for pk, (account_id, plan, _, needed) in zip(ids, stored, strict=True)
        if needed and account_id not in packed
        for row in _trade_rows(plan, securities)
    ]
    if trade_rows:  # their history starts at their first change (the module docstring)
        bulk.copy_rows(
            ProposalTrade,
            bulk.check_columns(ProposalTrade, TRADE_COLUMNS, generated=["id"]),
            trade_rows,
            scopes=scopes,
        )
    proposals = [
        _instance(row, parse_json=not scheduled, parts=_parts_text(parts.get(row[1]), documents)) for row in rows
    ]
    counts: dict[int, int] = {
        pk: len(plan.trades) for pk, (a, plan, _, _) in zip(ids, stored, strict=True) if a in packed
    }
    for row in trade_rows:
        counts[row[0]] = counts.get(row[0], 0) + 1
    # The chunk's events in the same transaction as its COPY: one INSERT for the chunk.
    proposal_events_bulk(proposals, trade_counts=counts)
    return proposals


_JSON_FIELDS = ("inline_inputs", "drift_before", "drift_after", "notes")


def _input_parts(
    stored: list[tuple[int, Any, Any, bool]],
    *,
    text: JsonText,
    reserved: dict[int, Decimal],
    derived: set[int],
    scheduled: bool,
) -> tuple[dict[int, tuple[bytes, bytes]], dict[bytes, str]]:
    """Each proposal's inputs as the two parts it references (`ProposalDocument`): the digests
    of its account part and its prices by account, and the documents' text by digest. The
    chunk's proposals of one day share one prices document (every holding's price by symbol);
    an account whose snapshot priced a symbol otherwise gets its own. A slim record (a
    scheduled run's account that needs nothing) keeps its few settings inline."""
    parts: dict[int, tuple[bytes, bytes]] = {}
    documents: dict[bytes, str] = {}
    referenced = [(a, snapshot) for a, _plan, snapshot, needed in stored if needed or not scheduled]
    shared: dict[date, dict[str, Any]] = {}  # day -> symbol -> the Holding that priced it first
    own: set[int] = set()
    for account_id, snapshot in referenced:
        prices = shared.setdefault(snapshot.as_of, {})
        for h in snapshot.holdings:
            if prices.setdefault(h.symbol, h).price != h.price:
                own.add(account_id)
    shared_keys: dict[date, bytes] = {}
    for day, by_symbol in shared.items():
        prices_text = text.prices(day, by_symbol.values())
        shared_keys[day] = _digest(prices_text)
        documents[shared_keys[day]] = prices_text
    for account_id, snapshot in referenced:
        account_part = text.account_part(snapshot, reserved.get(account_id, ZERO), derived=account_id in derived)
        key = _digest(account_part)
        documents[key] = account_part
        if account_id in own:
            prices_text = text.prices(snapshot.as_of, snapshot.holdings)
            documents[_digest(prices_text)] = prices_text
            parts[account_id] = (key, _digest(prices_text))
        else:
            parts[account_id] = (key, shared_keys[snapshot.as_of])
    return parts, documents


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _store_documents(documents: dict[bytes, str]) -> dict[bytes, int]:
    """The ids of `documents` (JSON text by the SHA-256 of the text), each stored once: those
    not yet stored are inserted -- in digest order, so two chunks storing the same documents
    at once wait for each other in the same order rather than deadlock -- and the others found.
    Two queries through the ORM; on PostgreSQL a COPY into a staging table, one INSERT and one
    SELECT."""
    if not documents:
        return {}
    digests = sorted(documents)
    if not bulk.enabled():
        ProposalDocument.objects.bulk_create(
            [ProposalDocument(digest=d, document=json.loads(documents[d])) for d in digests], ignore_conflicts=True
        )
        return {
            bytes(digest): pk
            for digest, pk in ProposalDocument.objects.filter(digest__in=digests).values_list("digest", "id")
        }
    table = connection.ops.quote_name(ProposalDocument._meta.db_table)
    with connection.cursor() as cursor:
        # By COPY into a staging table: as query parameters, a chunk's documents were quoted
        # one by one on the client (1.1 s of a 6 s profile of two 1,000-account chunks).
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS trading_proposaldocument_load (digest bytea, document text) "
            "ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE trading_proposaldocument_load")
        with cursor.cursor.copy("COPY trading_proposaldocument_load (digest, document) FROM STDIN") as copy:
            for digest in digests:
                copy.write_row((digest, documents[digest]))
        cursor.execute(
            f"INSERT INTO {table} (digest, document) SELECT digest, document::jsonb "  # noqa: S608  # nosec B608 -- the table name from the model
            "FROM trading_proposaldocument_load ORDER BY digest ON CONFLICT (digest) DO NOTHING"
        )
        cursor.execute(
            f"SELECT l.digest, d.id FROM trading_proposaldocument_load l JOIN {table} d USING (digest)"  # noqa: S608  # nosec B608 -- as above
        )
        return {bytes(digest): pk for digest, pk in cursor.fetchall()}


def _parts_text(keys: tuple[bytes, bytes] | None, documents: dict[bytes, str]) -> tuple[str, str] | None:
    return (documents[keys[0]], documents[keys[1]]) if keys else None


def _instance(row: tuple[Any, ...], *, parse_json: bool, parts: tuple[str, str] | None) -> RebalanceProposal:
    """The model instance of a COPY row: its JSON fields parsed, its inputs joined from their
    parts (`parts`, the texts its references were stored from), or left deferred (loaded if
    read)."""
    by_column = dict(zip(PROPOSAL_COLUMNS, row, strict=True))
    fields = [
        (f.attname, str(f.column))
        for f in RebalanceProposal._meta.concrete_fields
        if parse_json or f.attname not in _JSON_FIELDS
    ]
    values = [json.loads(by_column[column]) if name in _JSON_FIELDS else by_column[column] for name, column in fields]
    proposal = RebalanceProposal.from_db(connection.alias, [name for name, _ in fields], values)
    if parse_json and parts is not None:
        proposal.__dict__["inputs"] = join_inputs(json.loads(parts[0]), json.loads(parts[1]))  # the cached property
    return proposal


def _expire_open_pg(account_ids: list[int], *, acting_user: User, now: Any, scopes: set[str]) -> dict[int, int]:
    """`_expire_open` in one statement: the UPDATE's RETURNING rows, but the newest of each
    account (which the account's new proposal names, `supersedes`), become '~' history rows,
    so the expired rows never travel to Python. Returns the account -> newest expired id."""
    if not account_ids:
        return {}
    readcache.touch(*scopes)
    table = connection.ops.quote_name(RebalanceProposal._meta.db_table)
    expire = f"UPDATE {table} SET status = %s WHERE account_id = ANY(%s::bigint[]) AND status = %s AND needed"  # noqa: S608  # nosec B608 -- identifiers from model _meta, values as parameters
    with connection.cursor() as cursor:
        if not bulk.history_enabled():
            cursor.execute(
                f"WITH expired AS ({expire} RETURNING id, account_id) "  # noqa: S608  # nosec B608 -- the statement above
                "SELECT account_id, max(id) FROM expired GROUP BY account_id",
                [P.EXPIRED, list(account_ids), P.PROPOSED],
            )
            return dict(cursor.fetchall())
        history, columns, tracked = bulk.history_parts(RebalanceProposal)
        cursor.execute(
            f"WITH expired AS ({expire} RETURNING {tracked}), "  # noqa: S608 -- identifiers from the models, values as parameters  # nosec B608 -- identifiers from model _meta or code, values as parameters
            "ranked AS (SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY id DESC) AS n FROM expired), "
            f"written AS (INSERT INTO {history} ({columns}) SELECT {tracked}, %s, %s, '~', %s FROM ranked WHERE n > 1) "
            "SELECT account_id, id FROM ranked WHERE n = 1",
            [P.EXPIRED, list(account_ids), P.PROPOSED, now, "superseded", getattr(acting_user, "pk", None)],
        )
        return dict(cursor.fetchall())


def _expire_open(account_ids: list[int], *, acting_user: User) -> dict[int, int]:
    """Expire the open proposals of `account_ids` that a new proposal supersedes: one locking
    read, one bulk UPDATE and one bulk history insert. Only proposals that need trades are
    open in effect (a "no rebalance needed" record cannot be approved), so only those are
    expired — the nightly job does not rewrite every account's record each night. The newest
    of each account is named by the account's new proposal (`supersedes`, in its '+' history
    row) and has no '~' row of its own; any other gets one. Returns account -> newest expired id."""
    if not account_ids:
        return {}
    stale = list(
        RebalanceProposal.objects.select_for_update()
        .filter(account_id__in=account_ids, status=P.PROPOSED, needed=True)
        .defer(*_JSON_FIELDS)
    )
    if not stale:
        return {}
    newest: dict[int, int] = {}
    for old in stale:
        old.status = P.EXPIRED
        newest[old.account_id] = max(newest.get(old.account_id, 0), old.pk)
    named = set(newest.values())
    RebalanceProposal.objects.filter(pk__in=named).update(status=P.EXPIRED)
    others = [old for old in stale if old.pk not in named]
    if others:
        bulk_update_with_history(
            others,
            RebalanceProposal,
            ["status"],
            batch_size=WRITE_BATCH,
            default_user=acting_user,
            default_change_reason="superseded",
        )
    return newest


def trades_history_as_proposed(trades: Sequence[ProposalTrade]) -> int:
    """Before the first change to `trades` (loaded with their proposals, not yet changed): a '+'
    history row for each one that has none, as it was proposed -- its proposal's creation time
    and acting user, reason "proposed" (see the module docstring). Returns the rows written."""
    if not trades or not bulk.history_enabled():
        return 0
    history = ProposalTrade.history.model
    recorded = set(history.objects.filter(id__in=[t.pk for t in trades], history_type="+").values_list("id", flat=True))
    rows = [
        history(
            history_date=trade.proposal.created_at,
            history_user_id=trade.proposal.created_by_id,
            history_change_reason="proposed",
            history_type="+",
            **{field.attname: getattr(trade, field.attname) for field in history.tracked_fields},
        )
        for trade in trades
        if trade.pk not in recorded
    ]
    history.objects.bulk_create(rows)
    return len(rows)
