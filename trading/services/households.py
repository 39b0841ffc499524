"""Household rebalancing: a group's accounts brought to one model together
(`portfolios.engine.household`), stored as one rebalance proposal per account that trades.

Each proposal is an ordinary proposal of its account (approved, block-ordered and funded by its
own sells like any other): the household plan keeps every account's cash at or above zero
after its own trades, so no account's buys wait for another account's sells."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from portfolios.engine import AccountSnapshot, TradePlan, calculate_drift
from portfolios.engine.household import (
    GroupAccount,
    GroupHolding,
    GroupPlan,
    GroupSecurity,
    GroupSnapshot,
    plan_household,
)
from portfolios.engine.substitutes import on_model, stand_in
from portfolios.models import InvestmentAccount, ModelTarget, RebalancingGroup, RebalancingGroupMember, Security
from portfolios.selectors import engine_snapshots, households_last_loss_sales, latest_prices, substitution_pairs
from trading.errors import TradingError
from trading.models import RebalanceProposal
from trading.services.proposal_store import proposals_store
from trading.services.proposals import reserved_for_open_buys

ZERO = Decimal(0)


@dataclass(frozen=True)
class HouseholdProposals:
    group: RebalancingGroup
    plan: GroupPlan
    proposals: list[RebalanceProposal]


GroupInput = tuple[GroupSnapshot, dict[int, AccountSnapshot], dict[int, Decimal]]


def group_snapshot(group: RebalancingGroup, *, as_of: date) -> GroupInput:
    """The group's engine input: every open member account's holdings, lots and spendable cash
    (net of what its open buys and withdrawals hold), the model's targets with prices and
    asset classes. Also the accounts' own snapshots and reserved cash (for storing)."""
    return group_snapshots([group], as_of=as_of)[group.pk]


def group_snapshots(groups: Sequence[RebalancingGroup], *, as_of: date) -> dict[int, GroupInput]:
    """`group_snapshot` for many groups (their `model` loaded) in a fixed number of queries,
    however many: the nightly household stage reads its groups a batch at a time, not a dozen
    queries a group."""
    members: dict[int, list[int]] = {g.pk: [] for g in groups}
    types: dict[int, str] = {}
    for group_id, account_id, account_type in (
        RebalancingGroupMember.objects.filter(
            group__in=[g.pk for g in groups], account__status=InvestmentAccount.Status.OPEN
        )
        .order_by("account_id")
        .values_list("group_id", "account_id", "account__account_type")
    ):
        members[group_id].append(account_id)
        types[account_id] = account_type
    all_snapshots = engine_snapshots(account_ids=sorted(types), as_of=as_of)
    all_reserved = reserved_for_open_buys(list(all_snapshots))
    model_ids = sorted({g.model_id for g in groups})
    targets_of: dict[int, dict[str, Decimal]] = {m: {} for m in model_ids}
    for model_id, symbol, weight in ModelTarget.objects.filter(model_id__in=model_ids).values_list(
        "model_id", "security__symbol", "weight"
    ):
        targets_of[model_id][symbol] = weight
    held = {h.symbol for s in all_snapshots.values() for h in s.holdings if h.quantity > 0}
    every = sorted(held.union(*(t.keys() for t in targets_of.values())))
    securities = {s.symbol: s for s in Security.objects.filter(symbol__in=every)}
    all_prices = {p.symbol: p.close for p in latest_prices(every, as_of=as_of).values()}
    loss_sales_of = households_last_loss_sales(household_ids={g.household_id for g in groups}, as_of=as_of)
    pairs_of = substitution_pairs(model_ids=model_ids)
    out: dict[int, GroupInput] = {}
    for group in groups:
        snapshots = {a: all_snapshots[a] for a in members[group.pk] if a in all_snapshots}
        reserved = {a: all_reserved[a] for a in snapshots if a in all_reserved}
        targets = targets_of[group.model_id]
        held = {h.symbol for s in snapshots.values() for h in s.holdings if h.quantity > 0}
        symbols = sorted(held | set(targets))
        prices = {symbol: all_prices[symbol] for symbol in symbols if symbol in all_prices}
        loss_sales = loss_sales_of.get(group.household_id, {})
        # A substitute the household holds after a harvest stands in for its security (engine.substitutes).
        values: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for account_snapshot in snapshots.values():
            for h in account_snapshot.holdings:
                values[h.symbol] += h.quantity * prices.get(h.symbol, ZERO)
        weights, band_shares = stand_in(dict(targets), values, pairs_of.get(group.model_id, {}))
        group_securities = []
        for symbol in symbols:
            security = securities[symbol]
            group_securities.append(
                GroupSecurity(
                    symbol=symbol,
                    price=prices.get(symbol, ZERO),
                    target_weight=weights.get(symbol, ZERO),
                    asset_class=security.asset_class,
                    restricted=not security.is_active or symbol not in prices,
                    last_loss_sale_on=loss_sales.get(symbol),
                    band_share=band_shares.get(symbol, Decimal(1)),
                )
            )
        accounts = []
        for account_id, account_snapshot in sorted(snapshots.items()):
            accounts.append(
                GroupAccount(
                    account_id=account_id,
                    tax_deferred=types[account_id] in InvestmentAccount.TAX_DEFERRED_TYPES,
                    cash=account_snapshot.cash - reserved.get(account_id, ZERO),
                    holdings=tuple(
                        GroupHolding(h.symbol, h.quantity, h.lots) for h in account_snapshot.holdings if h.quantity > 0
                    ),
                    external_flow=ZERO if account_snapshot.flow_in_cash else account_snapshot.external_flow,
                    fractional_shares=account_snapshot.fractional_shares,
                    quantity_places=account_snapshot.quantity_places,
                    min_trade_amount=account_snapshot.min_trade_amount,
                )
            )
        group_snap = GroupSnapshot(
            group_id=group.pk,
            as_of=as_of,
            accounts=tuple(accounts),
            securities=tuple(group_securities),
            cash_target=group.model.cash_target,
            threshold=group.drift_threshold,
        )
        out[group.pk] = (group_snap, snapshots, reserved)
    return out


def _account_snapshot_on_model(snapshot: AccountSnapshot, group: GroupSnapshot, cash: Decimal) -> AccountSnapshot:
    """The account's snapshot measured against the group's model (its proposal's drift rows)."""
    return on_model(
        snapshot,
        {s.symbol: s.target_weight for s in group.securities},
        {s.symbol: s.price for s in group.securities},
        cash=cash,
        cash_target=group.cash_target,
        threshold=group.threshold,
    )


def household_rebalance_propose(
    *,
    group: RebalancingGroup,
    acting_user: User,
    as_of: date | None = None,
    force: bool = False,
    prepared: GroupInput | None = None,
) -> HouseholdProposals:
    """Plan the group's trades (`portfolios.engine.household.plan_household`) and store one
    proposal per account that trades, in one transaction; the group's own notes (and its
    household drift before and after) are written into each proposal's notes. A group inside its
    bands stores nothing. Refuses an inactive group or one with no open account. `prepared` is the
    group's input when the caller read it already (`group_snapshots`, for as_of)."""
    if not group.is_active:
        raise TradingError("The rebalancing group is inactive.", field="group")
    as_of = as_of or timezone.localdate()
    snapshot, snapshots, reserved = prepared or group_snapshot(group, as_of=as_of)
    if not snapshot.accounts:
        raise TradingError("The rebalancing group has no open account.", field="group")
    plan = plan_household(snapshot, force=force)
    if not plan.needed:
        return HouseholdProposals(group=group, plan=plan, proposals=[])
    header = (
        f"Household rebalancing, group {group.name!r} (model {group.model.name}): the household's largest drift "
        f"{max(abs(r.drift) for r in plan.drift_before) * 100:.2f} points before, "
        f"{plan.max_drift_after * 100:.2f} after. Each account is measured against the household, not alone: "
        + ", ".join(
            f"{r.symbol} {r.actual_weight * 100:.2f}% of the household (target {r.target_weight * 100:.2f}%)"
            for r in plan.drift_after
        )
        + "."
    )
    account_snapshots: dict[int, AccountSnapshot] = {}
    plans: dict[int, TradePlan] = {}
    cash = {a.account_id: a.cash for a in snapshot.accounts}
    for account_id, trades in plan.trades.items():
        on_model = _account_snapshot_on_model(snapshots[account_id], snapshot, cash[account_id])
        account_snapshots[account_id] = on_model
        plans[account_id] = TradePlan(
            account_id=account_id,
            needed=True,
            trades=trades,
            drift_before=calculate_drift(on_model),
            drift_after=None,
            realised_gain=sum((t.realised_gain for t in trades), ZERO),
            notes=(header, *plan.notes),
        )
    with transaction.atomic():
        proposals = proposals_store(
            account_ids=sorted(plans),
            snapshots=account_snapshots,
            plans=plans,
            reserved=reserved,
            acting_user=acting_user,
            as_of=as_of,
            run_keys={},
        )
    return HouseholdProposals(group=group, plan=plan, proposals=proposals)
