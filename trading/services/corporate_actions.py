"""Trading's part of corporate actions: a split's open orders, and dividend reinvestment.

`orders_adjust_for_split` -- a split's open orders in the security are adjusted on the
ex-date. Registered with `portfolios.services.corporate_actions.register_split_handler` at start-up
(`TradingConfig.ready`), so it runs inside the split's transaction, after the ledger and the
tax lots. The rule is the custodian's (`trading.adapters.custodian.interface`): the quantity
left x the ratio (whole shares ROUND_DOWN when it was whole, else 9 places), limit prices / the
ratio to cents (buys down, sells up), the estimated price / the ratio (6 places,
ROUND_HALF_EVEN); an order left with nothing to fill is cancelled. Each changed order keeps a
history row naming the acting user and the action.

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
from typing import Any

from django.db import transaction

from kronos.errors import DomainError
from kronos.history import save_attributed
from portfolios.models import ZERO, CorporateAction, CorporateActionEntitlement, InvestmentAccount
from trading.adapters.custodian.interface import split_adjusted_leaves, split_adjusted_limit_price
from trading.lifecycle import OPEN_STATES
from trading.models import Order

PRICE_QUANTUM = Decimal("0.000001")


def orders_adjust_for_split(*, action: CorporateAction, acting_user: Any) -> int:
    """Adjust every open order in the split security; returns how many were changed or cancelled."""
    from trading.services.orders import order_cancel

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


def dividends_reinvest(
    *, entitlements: Sequence[CorporateActionEntitlement], as_of: date, acting_user: Any
) -> list[CorporateActionEntitlement]:
    """Invest the paid dividends of reinvesting accounts (see the module docstring); returns the
    entitlements handled (all of them: an amount too small for a whole share is recorded on a
    proposal that needs nothing, and is not offered again)."""
    from portfolios.engine.workflow import run_rebalancing_workflow
    from portfolios.selectors import engine_snapshots
    from trading.models import RebalanceProposal
    from trading.services.proposals import proposal_approve, proposals_store, reserved_for_open_buys

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
