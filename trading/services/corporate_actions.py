"""Trading's part of corporate actions: a split's open orders, and dividend reinvestment.

`orders_adjust_for_split` -- a split's open orders in the security are adjusted on the
ex-date. Registered with `portfolios.services.corporate_actions.register_split_handler` at start-up
(`TradingConfig.ready`), so it runs inside the split's transaction, after the ledger and the
tax lots. The rule is the custodian's (`trading.adapters.custodian.interface`): the quantity
left x the ratio (whole shares ROUND_DOWN when it was whole, else 9 places), limit prices / the
ratio to cents (buys down, sells up), the estimated price / the ratio (6 places,
ROUND_HALF_EVEN); an order left with nothing to fill is cancelled. Each changed order keeps a
history row naming the acting user and the action.

`proposals_adjust_for_split` -- registered beside it: an open proposal's trades in the security
were planned at pre-split quantities and prices, so on the ex-date they take the same rule as
the orders (quantity x the ratio, whole shares ROUND_DOWN when whole; the price / the ratio, 6
places ROUND_HALF_EVEN; the estimated amount re-priced to cents ROUND_HALF_EVEN), each with a
history row naming the action (after its as-proposed row, when this is its first change:
`proposal_store.trades_history_as_proposed`). A proposal left with a trade of nothing (a
reverse split of fewer shares than its ratio) is expired with that reason: the next night
plans it again.

`dividends_reinvest` -- registered with `register_reinvestment_handler`: the dividends paid to
accounts that reinvest are invested through the cash-flow path (the engine's
`invest_cash_flow`: the most underweight holdings first, whole shares unless the account
allows fractions, nothing sold), as a proposal per account and pay date (run key
`dividend:<account>:<date>`, so a re-run stores nothing twice), approved at once for
automatic-mode accounts and left for the advisor otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import transaction
from django.db.models import Q

from accounts.models import User
from kronos.errors import DomainError
from kronos.history import save_attributed
from portfolios.engine.workflow import run_rebalancing_workflow
from portfolios.models import ZERO, CorporateAction, CorporateActionEntitlement, InvestmentAccount
from portfolios.selectors import engine_snapshots
from trading import packed_trades as packed
from trading.adapters.custodian.interface import split_adjusted_leaves, split_adjusted_limit_price
from trading.lifecycle import OPEN_STATES
from trading.models import Order, ProposalTrade, RebalanceProposal
from trading.services.orders import order_cancel
from trading.services.proposal_store import proposals_store, trades_history_as_proposed
from trading.services.proposals import proposal_approve, reserved_for_open_buys

PRICE_QUANTUM = Decimal("0.000001")
CENT = Decimal("0.01")


def orders_adjust_for_split(*, action: CorporateAction, acting_user: User) -> int:
    """Adjust every open order in the split security; returns how many were changed or cancelled."""
    num, den = action.ratio_numerator, action.ratio_denominator
    if action.is_dividend or not num or not den:
        return 0
    orders = list(
        Order.objects.select_for_update()
        .filter(security_id=action.security_id, status__in=[s.value for s in OPEN_STATES])
        .order_by("pk")
    )
    reason = f"{action.describe()} #{action.pk}"
    for order in orders:
        order.estimated_price = (order.estimated_price * den / num).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
        if order.limit_price is not None:
            order.limit_price = split_adjusted_limit_price(order.limit_price, order.side, split_to=num, split_from=den)
        left = None
        if order.quantity is not None:
            left = split_adjusted_leaves(order.quantity - order.filled_quantity, split_to=num, split_from=den)
            if left > 0:
                order.quantity = order.filled_quantity + left
        save_attributed(order, acting_user=acting_user, reason=reason, validate=False)
        if left is not None and left <= 0:
            order_cancel(order=order, acting_user=acting_user, reason=f"{reason}: nothing left to fill")
    return len(orders)


def proposals_adjust_for_split(*, action: CorporateAction, acting_user: User) -> int:
    """Adjust the open proposals' trades in the split security (see the module docstring);
    returns how many proposals were adjusted or expired."""
    num, den = action.ratio_numerator, action.ratio_denominator
    if action.is_dividend or not num or not den:
        return 0
    _unpack_for_security(action.security_id)  # the nightly scan's packed trades, as rows
    trades = list(
        ProposalTrade.objects.select_for_update(of=("self",))
        .select_related("proposal")
        .filter(
            security_id=action.security_id,
            proposal__status=RebalanceProposal.Status.PROPOSED,
            proposal__needed=True,
        )
        .order_by("proposal_id", "pk")
    )
    reason = f"{action.describe()} #{action.pk}"
    emptied: dict[int, tuple[RebalanceProposal, str]] = {}
    adjusted: list[tuple[ProposalTrade, Decimal]] = []
    for trade in trades:
        quantity = split_adjusted_leaves(trade.quantity, split_to=num, split_from=den)
        if quantity <= 0:
            emptied[trade.proposal_id] = (trade.proposal, trade.symbol)
        else:
            adjusted.append((trade, quantity))
    # A proposed trade's history starts at its first change: its as-proposed row first.
    trades_history_as_proposed([trade for trade, _ in adjusted])
    for trade, quantity in adjusted:
        trade.quantity = quantity
        trade.price = (trade.price * den / num).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
        trade.estimated_amount = (quantity * trade.price).quantize(CENT, rounding=ROUND_HALF_EVEN)
        save_attributed(trade, acting_user=acting_user, reason=reason, validate=False)
    for proposal, symbol in emptied.values():
        proposal.status = RebalanceProposal.Status.EXPIRED
        proposal.notes = [*(proposal.notes or []), f"{reason}: the trade in {symbol} was left with nothing."]
        save_attributed(
            proposal, acting_user=acting_user, reason=f"{reason}: a trade left with nothing", validate=False
        )
    return len({t.proposal_id for t in trades})


def _unpack_for_security(security_id: int) -> int:
    """Unpack into rows the trades of the open proposals (needing trades) that pack a trade in
    `security_id`, the proposals locked: a split adjusts those trades as rows, each with its
    history from its first change (`proposals_adjust_for_split`). The rows are the
    trades as proposed; the proposal's history is untouched (what it proposes is the same).
    Returns the proposals unpacked."""
    proposals = list(
        RebalanceProposal.objects.select_for_update()
        .filter(status=RebalanceProposal.Status.PROPOSED, needed=True)
        .filter(
            Q(packed_trades__startswith=f"{security_id},") | Q(packed_trades__contains=f"{packed.END}{security_id},")
        )
        .only("pk", "packed_trades")
        .order_by("pk")
    )
    if proposals:
        ProposalTrade.objects.bulk_create([t for p in proposals for t in p.trade_list])
        RebalanceProposal.objects.filter(pk__in=[p.pk for p in proposals]).update(packed_trades="")
    return len(proposals)


def dividends_reinvest(
    *, entitlements: Sequence[CorporateActionEntitlement], as_of: date, acting_user: User
) -> list[CorporateActionEntitlement]:
    """Invest the paid dividends of reinvesting accounts (see the module docstring); returns the
    entitlements handled (all of them: an amount too small for a whole share is recorded on a
    proposal that needs nothing, and is not offered again)."""
    amounts: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for e in entitlements:
        amounts[e.account_id] += e.amount
    keys = {a: f"dividend:{a}:{as_of.isoformat()}" for a in amounts}
    done = set(RebalanceProposal.objects.filter(run_key__in=keys.values()).values_list("account_id", flat=True))
    todo = sorted(a for a in amounts if a not in done)
    if todo:
        with transaction.atomic():
            snapshots = engine_snapshots(account_ids=todo, as_of=as_of)
            reserved = reserved_for_open_buys(list(snapshots))
            # The dividend is already in the cash: invest it as a credited inflow.
            snapshots = {
                a: replace(s, cash=s.cash - reserved.get(a, ZERO), external_flow=amounts[a], flow_in_cash=True)
                for a, s in snapshots.items()
            }
            plans = {
                int(k): v for k, v in run_rebalancing_workflow(snapshots=list(snapshots.values()), as_of=as_of).items()
            }
            proposals = proposals_store(
                account_ids=list(snapshots),
                snapshots=snapshots,
                plans=plans,
                reserved=reserved,
                acting_user=acting_user,
                as_of=as_of,
                run_keys={a: keys[a] for a in snapshots},
            )
        automatic = set(
            InvestmentAccount.objects.filter(
                pk__in=[p.account_id for p in proposals], rebalance_mode=InvestmentAccount.RebalanceMode.AUTOMATIC
            ).values_list("pk", flat=True)
        )
        for proposal in proposals:
            if proposal.needed and proposal.account_id in automatic and proposal.status == "proposed":
                try:
                    with transaction.atomic():
                        proposal_approve(proposal=proposal, acting_user=acting_user)
                except DomainError:
                    # Refused by a check (as the nightly drift scan does): the proposal waits for the advisor.
                    continue
    return list(entitlements)
