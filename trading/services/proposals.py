"""Rebalance proposals: run the rebalancing workflow for a chunk of accounts, store the
results in bulk, and turn an approved proposal into orders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from kronos.history import save_attributed
from portfolios import engine as rebalancing
from portfolios.ledger import bulk
from portfolios.models import Security
from trading.errors import TradingError
from trading.lifecycle import OPEN_STATES, OrderStatus
from trading.models import Order, ProposalTrade, RebalanceProposal, Side
from trading.services.common import ZERO, cents, cents_up, held_for_withdrawals_of
from trading.services.events import proposal_event, proposal_events_bulk
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


class _JsonText:
    """`_inputs` and `_drift_rows` written straight as JSON text for the COPY path (the nightly
    scan writes a hundred thousand of each): the same documents, without building the dicts
    and lists and then encoding them (about a third of the time). Decimals as `_s` writes
    them; strings (symbols, codes) JSON-quoted once per chunk."""

    HOLDINGS_HEADER = json.dumps(HOLDING_COLUMNS)
    DRIFT_ROW = (
        '{"symbol": %s, "target_weight": "%s", "actual_weight": "%s", "drift": "%s", "band": "%s", "breached": %s}'
    )

    def __init__(self) -> None:
        self.quoted: dict[str, str] = {}

    def q(self, value: str) -> str:
        out = self.quoted.get(value)
        if out is None:
            out = self.quoted[value] = json.dumps(value)
        return out

    @staticmethod
    def d(value: Decimal) -> str:
        out = str(value)  # format(value, "f") unless str() chose an exponent
        return out if "E" not in out else format(value, "f")

    def drift(self, report: rebalancing.DriftReport | None) -> str:
        if report is None:
            return "[]"
        q, d, row = self.q, self.d, self.DRIFT_ROW
        return (
            "["
            + ", ".join(
                [
                    row
                    % (
                        q(r.symbol),
                        d(r.target_weight),
                        d(r.actual_weight),
                        d(r.drift),
                        d(r.band),
                        "true" if r.breached else "false",
                    )
                    for r in report.rows
                ]
            )
            + "]"
        )

    def inputs(self, snapshot: rebalancing.AccountSnapshot, reserved: Decimal) -> str:
        q, d = self.q, self.d
        holdings = ", ".join(
            [
                f'[{q(h.symbol)}, "{d(h.quantity)}", "{d(h.price)}", "{d(h.target_weight)}", '
                f"{'true' if h.restricted else 'false'}]"
                for h in snapshot.holdings
            ]
        )
        return (
            f'{{"v": {INPUTS_VERSION}, "as_of": "{snapshot.as_of.isoformat()}", "currency": {q(snapshot.currency)}, '
            f'"cash": "{d(snapshot.cash)}", "reserved_for_open_buys": "{d(reserved)}", '
            f'"cash_target": "{d(snapshot.cash_target)}", "settings": {{"threshold": "{d(snapshot.threshold)}", '
            f'"band_mode": {q(str(snapshot.band_mode))}, "relative_band": "{d(snapshot.relative_band)}", '
            f'"cash_reserve": "{d(snapshot.cash_reserve)}", "min_trade_amount": "{d(snapshot.min_trade_amount)}", '
            f'"fractional_shares": {"true" if snapshot.fractional_shares else "false"}, '
            f'"commission_per_trade": "{d(snapshot.commission_per_trade)}", '
            f'"external_flow": "{d(snapshot.external_flow)}"}}, '
            f'"holding_columns": {self.HOLDINGS_HEADER}, "holdings": [{holdings}]}}'
        )

    def slim_inputs(self, snapshot: rebalancing.AccountSnapshot) -> str:
        return (
            f'{{"v": {INPUTS_VERSION}, "threshold": "{self.d(snapshot.threshold)}", '
            f'"band_mode": {self.q(str(snapshot.band_mode))}}}'
        )

    @staticmethod
    def strings(values: Sequence[str]) -> str:
        return json.dumps(list(values))


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
    from portfolios.selectors import engine_snapshots

    snapshots = engine_snapshots(account_ids=account_ids, as_of=as_of)
    reserved = reserved_for_open_buys(list(snapshots))
    if reserved:
        snapshots = {a: replace(s, cash=s.cash - reserved[a]) if reserved.get(a) else s for a, s in snapshots.items()}
    from portfolios.engine.workflow import run_rebalancing_workflow

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
    if bulk.enabled():
        with transaction.atomic():
            _expire_open_pg([a for a, *_ in stored], acting_user=acting_user, now=now)
            return _write_pg(
                stored,
                reserved=reserved,
                run_keys=keys,
                securities=securities,
                acting_user=acting_user,
                as_of=as_of,
                now=now,
            )
    proposals = [
        RebalanceProposal(
            account_id=account_id,
            needed=needed,
            as_of=as_of,
            run_key=keys.get(account_id),
            inputs=(
                {"v": INPUTS_VERSION, "threshold": _s(snapshot.threshold), "band_mode": str(snapshot.band_mode)}
                if scheduled and not needed
                else _inputs(snapshot, reserved.get(account_id, ZERO))
            ),
            drift_before=[] if scheduled and not needed else _drift_rows(plan.drift_before),
            drift_after=[] if scheduled and not needed else _drift_rows(plan.drift_after),
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
    return list(created)


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
    reserved: dict[int, Decimal],
    run_keys: dict[int, str],
    securities: dict[str, int],
    acting_user: Any,
    as_of: date,
    now: Any,
) -> list[RebalanceProposal]:
    """Write the chunk's proposals (`stored`: account id, plan, snapshot, needed) and trades by
    COPY, their JSON as text made by `_JsonText`, and their history rows from them.

    The proposals returned carry no JSON from a scheduled run (the job reads only their
    status; the fields load from the row if read); otherwise the JSON parsed back, as the
    ORM path returns it."""
    if not stored:
        return []
    scheduled = bool(run_keys)
    text = _JsonText()
    ids = bulk.next_ids(RebalanceProposal, len(stored))
    user_id = getattr(acting_user, "pk", None)
    rows = []
    for pk, (account_id, plan, snapshot, needed) in zip(ids, stored, strict=True):
        slim = scheduled and not needed
        after = plan.drift_after
        rows.append(
            (
                pk,
                account_id,
                P.PROPOSED,
                needed,
                as_of,
                run_keys.get(account_id),
                text.slim_inputs(snapshot) if slim else text.inputs(snapshot, reserved.get(account_id, ZERO)),
                "[]" if slim else text.drift(plan.drift_before),
                "[]" if slim else text.drift(after),
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
    bulk.copy_rows(RebalanceProposal, bulk.check_columns(RebalanceProposal, PROPOSAL_COLUMNS), rows)
    bulk.history_from_table(
        RebalanceProposal,
        where="id = ANY(%s::bigint[])",
        params=[ids],
        acting_user=acting_user,
        reason="proposed",
        now=now,
    )
    needed_ids = [pk for pk, (_, _, _, needed) in zip(ids, stored, strict=True) if needed]
    trade_rows = [
        (pk, *row)
        for pk, (account_id, plan, _, needed) in zip(ids, stored, strict=True)
        if needed
        for row in _trade_rows(plan, securities)
    ]
    if trade_rows:
        bulk.copy_rows(ProposalTrade, bulk.check_columns(ProposalTrade, TRADE_COLUMNS, generated=["id"]), trade_rows)
        bulk.history_from_table(
            ProposalTrade,
            where="proposal_id = ANY(%s::bigint[])",
            params=[needed_ids],
            acting_user=acting_user,
            reason="proposed",
            now=now,
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


def _expire_open_pg(account_ids: list[int], *, acting_user: Any, now: Any) -> int:
    """`_expire_open` in one statement: the UPDATE's RETURNING rows become the '~' history rows
    (what bulk_update_with_history writes), so the expired rows never travel to Python."""
    if not account_ids:
        return 0
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
    Approving an approved proposal again returns its orders.

    The buys are paid for by the proposal's own sells: a buy that the account's cash does not
    cover but the sells' proceeds do waits for them (`awaiting_funds`) and is sent when they
    fill (see `trading.services.orders.release_funded_buys`). An order that its checks reject or
    send to review, a buy short of cash even with the proceeds included, is written with its
    reason and named in the proposal's notes."""
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
                    check_context=checks,
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
def proposal_discard(*, proposal: RebalanceProposal, acting_user: Any) -> RebalanceProposal:
    """Discard an open proposal (nothing is traded). Refuses a proposal that is not open."""
    proposal = _lock_open(proposal)
    proposal.status = P.DISCARDED
    proposal.decided_by = acting_user
    proposal.decided_at = timezone.now()
    save_attributed(proposal, acting_user=acting_user, reason="discarded", validate=False)
    proposal_event(proposal)
    return proposal


# --- Cash-flow rebalancing ------------------------------------------------------------------------


def proposal_for_cash_flow(
    *,
    account: Any,
    amount: Decimal,
    acting_user: Any,
    flow_in_cash: bool,
    as_of: date | None = None,
    auto_approve: bool = True,
) -> RebalanceProposal | None:
    """Plan a cash flow with the engine's `invest_cash_flow` and store it as a proposal: a
    deposit (`amount` > 0, `flow_in_cash=True` once it is credited) buys the most underweight
    holdings; a withdrawal (`amount` < 0, not yet debited: `flow_in_cash=False`) sells the most
    overweight ones until the cash covers it and the reserve. The cash the engine sees is net of
    open buys' reservations (and, for a withdrawal, of unsettled sale proceeds, which may not
    leave). An account in automatic mode has the proposal approved at once (its orders placed);
    otherwise it waits for the advisor. None for an account without a model. A proposal with no
    trades is stored too (`needed=False`), so the reason is on record."""
    from portfolios.selectors import engine_snapshots
    from trading.services.common import unsettled_sale_proceeds

    if not account.model_id:
        return None
    as_of = as_of or timezone.localdate()
    snapshot = engine_snapshots(account_ids=[account.pk], as_of=as_of).get(account.pk)
    if snapshot is None or not any(h.target_weight for h in snapshot.holdings):
        return None
    reserved = reserved_for_open_buys([account.pk]).get(account.pk, ZERO)
    cash = snapshot.cash - reserved
    if amount < 0:
        cash -= unsettled_sale_proceeds(account)
    snapshot = replace(snapshot, cash=cash, external_flow=amount, flow_in_cash=flow_in_cash)
    plan = rebalancing.invest_cash_flow(snapshot)
    (proposal,) = proposals_store(
        account_ids=[account.pk],
        snapshots={account.pk: snapshot},
        plans={account.pk: plan},
        reserved={account.pk: reserved},
        acting_user=acting_user,
        as_of=as_of,
        run_keys={},
    )
    if auto_approve and proposal.needed and account.rebalance_mode == account.RebalanceMode.AUTOMATIC:
        proposal_approve(proposal=proposal, acting_user=acting_user)
        proposal.refresh_from_db()
    return proposal


# --- Raising cash: a withdrawal or a fee the cash does not cover ----------------------------------

#: The sells of a cash raise aim this fraction above the shortfall, so that prices moving between
#: the plan and the fills (and whole-share rounding) still leave enough: 2%.
RAISE_BUFFER = Decimal("0.02")


def account_liquid_value(account: Any) -> Decimal:
    """What the account could pay out: its withdrawable cash plus the shares not already being
    sold (`sellable_quantity`) at their latest prices — the most a withdrawal may ask."""
    from portfolios.models import Position
    from trading.services.common import latest_prices, sellable_quantity, withdrawable_cash

    positions = list(Position.objects.filter(account=account, quantity__gt=0).select_related("security"))
    prices = latest_prices(p.security_id for p in positions)
    selling = set(
        Order.objects.filter(account=account, side=Side.SELL, status__in=OPEN_STATES).values_list(
            "security_id", flat=True
        )
    )
    value = withdrawable_cash(account)
    for position in positions:
        quantity = position.quantity
        if position.security_id in selling:
            quantity = max(sellable_quantity(account, position.security), ZERO)
        value += cents(quantity * prices.get(position.security_id, ZERO))
    return value


def proposal_to_raise_cash(*, account: Any, amount: Decimal, acting_user: Any, approve: bool) -> RebalanceProposal:
    """A sell proposal that raises what `amount` (a withdrawal or a fee, not yet debited) needs
    beyond the account's withdrawable cash: the engine's `invest_cash_flow` sells the most
    overweight holdings first, whole shares unless the account allows fractions, the
    highest-cost lots first, aiming `RAISE_BUFFER` above the shortfall. Approved at once when
    `approve` (or the account is in automatic mode), else left for the advisor.

    Validated, else `TradingError` on `amount` and nothing is written (call it inside the
    caller's transaction, which holds the account's lock): the account has a model; `amount` is
    no more than `account_liquid_value`; the plan's sells cover the shortfall; once approved, the
    sells that were not rejected still do."""
    from trading.services.common import withdrawable_cash

    currency = account.base_currency
    if not account.model_id:
        raise TradingError(
            "The account has no model portfolio, so there is nothing to choose the sales by: sell holdings first.",
            field="amount",
            code="cannot_raise",
        )
    value = account_liquid_value(account)
    if amount > value:
        raise TradingError(
            f"{amount:,.2f} {currency} is more than the account is worth ({value:,.2f} {currency}).",
            field="amount",
            code="more_than_value",
        )
    shortfall = amount - withdrawable_cash(account)
    target = min(amount + cents_up(shortfall * RAISE_BUFFER), value)
    with transaction.atomic():
        proposal = proposal_for_cash_flow(
            account=account, amount=-target, acting_user=acting_user, flow_in_cash=False, auto_approve=False
        )
        sells = [t for t in proposal.trades.all() if t.side == Side.SELL] if proposal is not None else []
        raised = sum((t.estimated_amount for t in sells), ZERO)
        if proposal is None or raised < shortfall:
            raise TradingError(
                f"The sales can raise only {raised:,.2f} {currency} of the {shortfall:,.2f} {currency} "
                "the cash is short by (whole shares, restrictions): ask for less.",
                field="amount",
                code="cannot_raise",
            )
        if approve or account.rebalance_mode == account.RebalanceMode.AUTOMATIC:
            orders = proposal_approve(proposal=proposal, acting_user=acting_user)
            placed = {o.security_id for o in orders if o.side == Side.SELL and o.status != OrderStatus.REJECTED}
            raised = sum((t.estimated_amount for t in sells if t.security_id in placed), ZERO)
            if raised < shortfall:
                refused = "; ".join(o.status_reason for o in orders if o.status == OrderStatus.REJECTED)
                raise TradingError(
                    f"The sales that may go ahead raise only {raised:,.2f} {currency} of the "
                    f"{shortfall:,.2f} {currency} needed: {refused}",
                    field="amount",
                    code="cannot_raise",
                )
            proposal.refresh_from_db()
    return proposal


def cash_raise_shortfall(*, proposal: RebalanceProposal, amount: Decimal, available: Decimal) -> str | None:
    """Why a cash raise is over without the cash being there (a reason a user can read), or None
    while its sales may still bring it: the proposal is awaiting approval, or any of its orders is
    open, or any of its sales has not settled."""
    from trading.models import Execution

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
