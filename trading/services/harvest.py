"""Tax-loss harvesting: the household's scan (`portfolios.engine.harvest.plan_harvest`) stored as
one proposal per account that harvests, approved by the advisor -- or at once in the firm's
automatic mode -- and the daily scan over every household of the firms that harvest.

The scan reads the household's wash-sale window from every account (IRAs included), the
household's open buy orders (purchases about to happen) and its other accounts' open proposals'
buys (purchases an advisor may approve beside the harvest); a harvest's sells relieve the lots
the engine chose (highest cost first, the fill path's default relief)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Household, User
from accounts.services import system_user
from kronos.history import save_attributed
from portfolios.engine import AccountSnapshot, TradePlan, calculate_drift
from portfolios.engine.harvest import HarvestAccount, HarvestHolding, HarvestPlan, HarvestSnapshot, plan_harvest
from portfolios.engine.substitutes import on_model
from portfolios.engine.wash_sales import Acquisition
from portfolios.models import HarvestSettings, InvestmentAccount, RebalancingGroupMember, Security
from portfolios.selectors import (
    engine_snapshots,
    household_wash_window,
    households_with_losses_to_harvest,
    latest_prices,
    model_targets_and_substitutes,
    realised_gains_in_year,
    substitution_pairs,
)
from trading.lifecycle import OPEN_STATES
from trading.models import HarvestRecord, Order, ProposalTrade, RebalanceProposal, Side
from trading.services.proposal_store import proposals_store
from trading.services.proposals import proposal_approve, reserved_for_open_buys

ZERO = Decimal(0)


logger = logging.getLogger(__name__)


@dataclass
class HarvestResult:
    household: Household
    plan: HarvestPlan
    proposals: list[RebalanceProposal] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)


def harvest_settings_for(firm_id: int) -> HarvestSettings:
    """The firm's settings, or the defaults (unsaved) when it has none."""
    return HarvestSettings.objects.filter(firm_id=firm_id).first() or HarvestSettings(firm_id=firm_id)


def _open_buys(account_ids: list[int], as_of: date) -> list[Acquisition]:
    """The accounts' open buy orders: purchases about to happen, as of today."""
    return [
        Acquisition(f"order:{pk}", f"order:{pk}", account_id, symbol, as_of, quantity or Decimal(10) ** 12)
        for pk, account_id, symbol, quantity in Order.objects.filter(
            account_id__in=account_ids, side=Side.BUY, status__in=OPEN_STATES
        )
        .order_by("pk")
        .values_list("pk", "account_id", "security__symbol", "quantity")
    ]


def _proposed_buys(account_ids: list[int], as_of: date) -> list[Acquisition]:
    """The buys of the accounts' open proposals: their rows, then the packed ones (the nightly
    scan's, `trading.packed_trades`; named by proposal and place)."""
    if not account_ids:
        return []
    rows = [
        Acquisition(f"proposal-trade:{pk}", f"proposal-trade:{pk}", account_id, symbol, as_of, quantity)
        for pk, account_id, symbol, quantity in ProposalTrade.objects.filter(
            proposal__account_id__in=account_ids,
            proposal__status=RebalanceProposal.Status.PROPOSED,
            side=Side.BUY,
        )
        .order_by("pk")
        .values_list("pk", "proposal__account_id", "symbol", "quantity")
    ]
    packed = [
        Acquisition(name, name, proposal.account_id, t.symbol, as_of, t.quantity)
        for proposal in RebalanceProposal.objects.filter(
            account_id__in=account_ids, status=RebalanceProposal.Status.PROPOSED, packed_trades__gt=""
        )
        .only("pk", "account_id", "packed_trades")
        .order_by("pk")
        for t in proposal.trade_list
        if t.side == Side.BUY
        for name in (f"proposal-trade:{proposal.pk}.{t.position}",)
    ]
    return rows + packed


HarvestInput = tuple[HarvestSnapshot, dict[int, AccountSnapshot]]


def harvest_snapshot(household: Household, *, as_of: date, settings: HarvestSettings) -> HarvestInput:
    """The engine's input for the household: every open account (the wash-sale window reads
    them all), each with its lots, spendable cash, the year's realised gain, its gains budget and
    the substitution pairs of the model it follows (its group's, when it is in one)."""
    return harvest_snapshots([household], as_of=as_of, settings_of={household.firm_id: settings})[household.pk]


def harvest_snapshots(
    households: Sequence[Household], *, as_of: date, settings_of: dict[int, HarvestSettings]
) -> dict[int, HarvestInput]:
    """`harvest_snapshot` for many households (`settings_of` by firm) in a fixed number of
    queries, however many: the daily scan reads its households a batch at a time."""
    accounts_of: dict[int, list[InvestmentAccount]] = {h.pk: [] for h in households}
    for account in InvestmentAccount.objects.filter(
        household_id__in=list(accounts_of), status=InvestmentAccount.Status.OPEN
    ).order_by("pk"):
        accounts_of[account.household_id].append(account)
    account_by_id = {a.pk: a for accounts in accounts_of.values() for a in accounts}
    household_of = {a.pk: a.household_id for a in account_by_id.values()}
    ids = sorted(account_by_id)
    groups = dict(
        RebalancingGroupMember.objects.filter(account_id__in=ids, group__is_active=True).values_list(
            "account_id", "group__model_id"
        )
    )
    model_of = {a: groups.get(a, account.model_id) for a, account in account_by_id.items()}
    all_pairs = substitution_pairs(model_ids=[m for m in set(model_of.values()) if m is not None])
    all_snapshots = engine_snapshots(account_ids=ids, as_of=as_of)
    all_reserved = reserved_for_open_buys(ids)
    all_gains = realised_gains_in_year(account_ids=ids, year=as_of.year)
    window_buys, window_sales = household_wash_window(account_ids=ids, as_of=as_of)
    open_buys = _open_buys(ids, as_of)
    # The buys of the household's open proposals (one account has none to count against).
    proposed = _proposed_buys([a for a in ids if len(accounts_of[household_of[a]]) > 1], as_of)
    # An account in a group is measured against the group's model (its proposal's drift rows;
    # without targets a proposal would not be stored at all).
    regrouped = {a: m for a, m in groups.items() if m != account_by_id[a].model_id}
    weights: dict[int, dict[int, Decimal]] = {}
    symbol_of: dict[int, str] = {}
    if regrouped:
        weights, _ = model_targets_and_substitutes(model_ids=set(regrouped.values()))
        symbol_of = dict(
            Security.objects.filter(pk__in={s for w in weights.values() for s in w}).values_list("pk", "symbol")
        )
    wanted = {h.symbol for s in all_snapshots.values() for h in s.holdings} | {
        sub for p in all_pairs.values() for sub in p.values()
    }
    all_prices = {
        p.symbol: p.close for p in latest_prices(sorted(wanted | set(symbol_of.values())), as_of=as_of).values()
    }

    out: dict[int, HarvestInput] = {}
    for household in households:
        accounts = accounts_of[household.pk]
        mine = {a.pk for a in accounts}
        snapshots = {a: all_snapshots[a] for a in sorted(mine) if a in all_snapshots}
        pairs = {m: all_pairs[m] for m in {model_of[a] for a in mine} if m is not None}
        symbols = {h.symbol for s in snapshots.values() for h in s.holdings} | {
            sub for p in pairs.values() for sub in p.values()
        }
        prices = {symbol: all_prices[symbol] for symbol in sorted(symbols) if symbol in all_prices}
        group_models = {regrouped[a] for a in mine if a in regrouped}
        named_of = {m: {symbol_of[sid]: w for sid, w in weights.get(m, {}).items()} for m in group_models}
        prices.update({s: all_prices[s] for named in named_of.values() for s in named if s in all_prices})
        for account_id in sorted(mine):
            if account_id in regrouped and account_id in snapshots:
                snapshots[account_id] = on_model(snapshots[account_id], named_of[regrouped[account_id]], prices)
        harvest_accounts = []
        for account in accounts:
            account_snapshot = snapshots.get(account.pk)
            if account_snapshot is None:
                continue
            model_id = model_of[account.pk]
            harvest_accounts.append(
                HarvestAccount(
                    account_id=account.pk,
                    tax_deferred=account.is_tax_deferred,
                    cash=account_snapshot.cash - all_reserved.get(account.pk, ZERO),
                    holdings=tuple(
                        HarvestHolding(h.symbol, h.quantity, h.price, h.lots, h.target_weight)
                        for h in account_snapshot.holdings
                        if h.quantity > 0
                    ),
                    substitutes=all_pairs.get(model_id, {}) if model_id is not None else {},
                    realised_gain_this_year=all_gains.get(account.pk, ZERO),
                    gains_budget=account.yearly_gains_budget,
                    fractional_shares=account.fractional_shares,
                    threshold=account.drift_threshold,
                )
            )
        settings = settings_of[household.firm_id]
        out[household.pk] = (
            HarvestSnapshot(
                household_id=household.pk,
                as_of=as_of,
                accounts=tuple(harvest_accounts),
                prices=prices,
                threshold_amount=settings.loss_threshold_amount,
                threshold_percent=settings.loss_threshold_percent,
                acquisitions=tuple(
                    [a for a in window_buys if a.account_id in mine] + [a for a in open_buys if a.account_id in mine]
                ),
                loss_sales=tuple(s for s in window_sales if s.account_id in mine),
                proposed_buys=tuple(a for a in proposed if a.account_id in mine),
            ),
            snapshots,
        )
    return out


def harvest_proposals_create(
    *,
    household: Household,
    acting_user: User,
    as_of: date | None = None,
    automatic: bool | None = None,
    prepared: HarvestInput | None = None,
    settings: HarvestSettings | None = None,
) -> HarvestResult:
    """Scan the household and store one proposal per account that harvests (its sells and the
    substitutes' buys, a HarvestRecord with the loss), in one transaction; in automatic mode
    (the firm's setting unless `automatic` says otherwise) approve each as it is made
    (`proposal_approve`: its pre-trade checks, buys funded by its own sells). An account's older
    open proposals are expired by its new one, so a rerun the same day replaces, never doubles.
    `prepared` and `settings` are the household's input and its firm's settings when the caller
    read them already (`harvest_snapshots`, for as_of)."""
    as_of = as_of or timezone.localdate()
    settings = settings or harvest_settings_for(household.firm_id)
    snapshot, snapshots = prepared or harvest_snapshot(household, as_of=as_of, settings=settings)
    plan = plan_harvest(snapshot)
    result = HarvestResult(household=household, plan=plan)
    losses = plan.loss_by_account()
    if not losses:
        return result
    plans: dict[int, TradePlan] = {}
    for account_id, loss in losses.items():
        trades = plan.trades(account_id)
        mine = [h for h in plan.harvests if h.account_id == account_id]
        note = "Tax-loss harvest: " + "; ".join(
            f"sell {h.sell.quantity.normalize():f} {h.symbol} (loss {h.loss:,.2f}), buy "
            + (f"{h.buy.quantity.normalize():f} {h.substitute}" if h.buy else f"no {h.substitute} (too little cash)")
            for h in mine
        )
        plans[account_id] = TradePlan(
            account_id=account_id,
            needed=True,
            trades=trades,
            drift_before=calculate_drift(snapshots[account_id]),
            drift_after=None,
            realised_gain=-loss,
            notes=(note, *plan.notes),
        )
    automatic = settings.automatic if automatic is None else automatic
    with transaction.atomic():
        stored = proposals_store(
            account_ids=sorted(plans),
            snapshots={a: snapshots[a] for a in plans},
            plans=plans,
            reserved=reserved_for_open_buys(sorted(plans)),
            acting_user=acting_user,
            as_of=as_of,
            run_keys={},
        )
        for proposal in stored:
            mine = [h for h in plan.harvests if h.account_id == proposal.account_id]
            record = HarvestRecord(
                proposal=proposal,
                account_id=proposal.account_id,
                year=as_of.year,
                estimated_loss=losses[proposal.account_id],
                substitutes={h.symbol: h.substitute for h in mine},
            )
            save_attributed(record, acting_user=acting_user, reason="tax-loss harvest", validate=False)
            if automatic:
                result.orders += proposal_approve(proposal=proposal, acting_user=acting_user)
        result.proposals = stored
    return result


#: Households whose inputs the daily scan reads together (`harvest_snapshots`).
HARVEST_BATCH = 200


def harvest_scan_run(*, as_of: date | None = None, acting_user: User | None = None) -> int:
    """The daily scan: every household with a paired lot at a loss in a taxable open account
    (`portfolios.selectors.households_with_losses_to_harvest`), of the firms whose harvesting is
    on (firms without settings harvest with the defaults). The households' inputs are read a
    batch at a time (`harvest_snapshots`); each household is planned and stored in its own
    transaction, and one that fails is logged and the scan goes on (a batch whose read fails
    is read household by household). Returns the proposals made."""
    acting_user = acting_user or system_user()
    as_of = as_of or timezone.localdate()
    disabled = set(HarvestSettings.objects.filter(enabled=False).values_list("firm_id", flat=True))
    # Only the households with a paired lot at a loss can harvest: one query finds them.
    candidates = households_with_losses_to_harvest(as_of=as_of, exclude_firms=disabled)
    households = list(Household.objects.filter(pk__in=candidates).order_by("pk"))
    settings_of = {firm_id: harvest_settings_for(firm_id) for firm_id in sorted({h.firm_id for h in households})}
    made = 0
    for start in range(0, len(households), HARVEST_BATCH):
        batch = households[start : start + HARVEST_BATCH]
        try:
            prepared = harvest_snapshots(batch, as_of=as_of, settings_of=settings_of)
        except Exception:  # each household then reads (and fails, logged) alone
            logger.exception("harvest scan: reading a batch of %s households failed", len(batch))
            prepared = {}
        for household in batch:
            try:
                with transaction.atomic():  # a savepoint: one household's failure undoes only its own work
                    made += len(
                        harvest_proposals_create(
                            household=household,
                            acting_user=acting_user,
                            as_of=as_of,
                            prepared=prepared.get(household.pk),
                            settings=settings_of[household.firm_id],
                        ).proposals
                    )
            except Exception:  # logged with the household; the scan goes on for the others
                logger.exception("harvest scan: household %s not harvested", household.pk)
                continue
    return made
