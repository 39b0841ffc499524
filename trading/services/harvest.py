"""Tax-loss harvesting: the household's scan (`portfolios.engine.harvest.plan_harvest`) stored as
one proposal per account that harvests, approved by the advisor -- or at once in the firm's
automatic mode -- and the daily scan over every household of the firms that harvest.

The scan reads the household's wash-sale window from every account (IRAs included), the
household's open buy orders (purchases about to happen) and its other accounts' open proposals'
buys (purchases an advisor may approve beside the harvest); a harvest's sells relieve the lots
the engine chose (highest cost first, the fill path's default relief)."""

from __future__ import annotations

import logging
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
    """The household's open buy orders: purchases about to happen, as of today."""
    return [
        Acquisition(f"order:{pk}", f"order:{pk}", account_id, symbol, as_of, quantity or Decimal(10) ** 12)
        for pk, account_id, symbol, quantity in Order.objects.filter(
            account_id__in=account_ids, side=Side.BUY, status__in=OPEN_STATES
        ).values_list("pk", "account_id", "security__symbol", "quantity")
    ]


def _proposed_buys(account_ids: list[int], as_of: date) -> list[Acquisition]:
    """The buys of the household's open proposals (one account has none to count against)."""
    if len(account_ids) < 2:
        return []
    return [
        Acquisition(f"proposal-trade:{pk}", f"proposal-trade:{pk}", account_id, symbol, as_of, quantity)
        for pk, account_id, symbol, quantity in ProposalTrade.objects.filter(
            proposal__account_id__in=account_ids,
            proposal__status=RebalanceProposal.Status.PROPOSED,
            side=Side.BUY,
        ).values_list("pk", "proposal__account_id", "symbol", "quantity")
    ]


def harvest_snapshot(
    household: Household, *, as_of: date, settings: HarvestSettings
) -> tuple[HarvestSnapshot, dict[int, AccountSnapshot]]:
    """The engine's input for the household: every open account (the wash-sale window reads
    them all), each with its lots, spendable cash, the year's realised gain, its gains budget and
    the substitution pairs of the model it follows (its group's, when it is in one)."""
    accounts = list(
        InvestmentAccount.objects.filter(household=household, status=InvestmentAccount.Status.OPEN).order_by("pk")
    )
    ids = [a.pk for a in accounts]
    groups = dict(
        RebalancingGroupMember.objects.filter(account_id__in=ids, group__is_active=True).values_list(
            "account_id", "group__model_id"
        )
    )
    model_of = {a.pk: groups.get(a.pk, a.model_id) for a in accounts}
    pairs = substitution_pairs(model_ids=[m for m in set(model_of.values()) if m is not None])
    snapshots = engine_snapshots(account_ids=ids, as_of=as_of)
    reserved = reserved_for_open_buys(ids)
    gains = realised_gains_in_year(account_ids=ids, year=as_of.year)
    acquisitions, loss_sales = household_wash_window(account_ids=ids, as_of=as_of)
    acquisitions += _open_buys(ids, as_of)
    symbols = {h.symbol for s in snapshots.values() for h in s.holdings} | {
        sub for p in pairs.values() for sub in p.values()
    }
    prices = {p.symbol: p.close for p in latest_prices(sorted(symbols), as_of=as_of).values()}
    # An account in a group is measured against the group's model (its proposal's drift rows;
    # without targets a proposal would not be stored at all).
    regrouped = {a.pk: groups[a.pk] for a in accounts if a.pk in groups and groups[a.pk] != a.model_id}
    if regrouped:
        weights, _ = model_targets_and_substitutes(model_ids=set(regrouped.values()))
        symbol_of = dict(
            Security.objects.filter(pk__in={s for w in weights.values() for s in w}).values_list("pk", "symbol")
        )
        missing = sorted(set(symbol_of.values()) - set(prices))
        prices.update({p.symbol: p.close for p in latest_prices(missing, as_of=as_of).values()})
        for account_id, group_model in regrouped.items():
            if account_id in snapshots:
                named = {symbol_of[sid]: w for sid, w in weights.get(group_model, {}).items()}
                snapshots[account_id] = on_model(snapshots[account_id], named, prices)
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
                cash=account_snapshot.cash - reserved.get(account.pk, ZERO),
                holdings=tuple(
                    HarvestHolding(h.symbol, h.quantity, h.price, h.lots, h.target_weight)
                    for h in account_snapshot.holdings
                    if h.quantity > 0
                ),
                substitutes=pairs.get(model_id, {}) if model_id is not None else {},
                realised_gain_this_year=gains.get(account.pk, ZERO),
                gains_budget=account.yearly_gains_budget,
                fractional_shares=account.fractional_shares,
                threshold=account.drift_threshold,
            )
        )
    harvest_input = HarvestSnapshot(
        household_id=household.pk,
        as_of=as_of,
        accounts=tuple(harvest_accounts),
        prices=prices,
        threshold_amount=settings.loss_threshold_amount,
        threshold_percent=settings.loss_threshold_percent,
        acquisitions=tuple(acquisitions),
        loss_sales=tuple(loss_sales),
        proposed_buys=tuple(_proposed_buys(ids, as_of)),
    )
    return harvest_input, snapshots


def harvest_proposals_create(
    *, household: Household, acting_user: User, as_of: date | None = None, automatic: bool | None = None
) -> HarvestResult:
    """Scan the household and store one proposal per account that harvests (its sells and the
    substitutes' buys, a HarvestRecord with the loss), in one transaction; in automatic mode
    (the firm's setting unless `automatic` says otherwise) approve each as it is made
    (`proposal_approve`: its pre-trade checks, buys funded by its own sells). An account's older
    open proposals are expired by its new one, so a rerun the same day replaces, never doubles."""
    as_of = as_of or timezone.localdate()
    settings = harvest_settings_for(household.firm_id)
    snapshot, snapshots = harvest_snapshot(household, as_of=as_of, settings=settings)
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


def harvest_scan_run(*, as_of: date | None = None, acting_user: User | None = None) -> int:
    """The daily scan: every household with a paired lot at a loss in a taxable open account
    (`portfolios.selectors.households_with_losses_to_harvest`), of the firms whose harvesting is
    on (firms without settings harvest with the defaults). Each household in its
    own transaction; one that fails is logged and the scan goes on. Returns the proposals made."""
    acting_user = acting_user or system_user()
    disabled = set(HarvestSettings.objects.filter(enabled=False).values_list("firm_id", flat=True))
    # Only the households with a paired lot at a loss can harvest: one query finds them.
    candidates = households_with_losses_to_harvest(as_of=as_of or timezone.localdate(), exclude_firms=disabled)
    households = Household.objects.filter(pk__in=candidates).order_by("pk")
    made = 0
    for household in households:
        try:
            with transaction.atomic():  # a savepoint: one household's failure undoes only its own work
                made += len(
                    harvest_proposals_create(household=household, acting_user=acting_user, as_of=as_of).proposals
                )
        except Exception:  # logged with the household; the scan goes on for the others
            logger.exception("harvest scan: household %s not harvested", household.pk)
            continue
    return made
