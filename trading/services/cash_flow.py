"""Cash-flow rebalancing: a deposit invested in the underweight holdings, and a withdrawal or a
fee the cash does not cover raised by selling the overweight ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from portfolios import engine as rebalancing
from portfolios.models import Position
from portfolios.selectors import engine_snapshots
from trading.errors import TradingError
from trading.lifecycle import OPEN_STATES, OrderStatus
from trading.models import Order, RebalanceProposal, Side
from trading.services.common import (
    ZERO,
    cents,
    cents_up,
    latest_prices,
    sellable_quantity,
    unsettled_sale_proceeds,
    withdrawable_cash,
)
from trading.services.proposal_store import proposals_store
from trading.services.proposals import proposal_approve, reserved_for_open_buys

# --- Cash-flow rebalancing ------------------------------------------------------------------------


def proposal_for_cash_flow(
    *,
    account: Any,
    amount: Decimal,
    acting_user: User,
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


def proposal_to_raise_cash(*, account: Any, amount: Decimal, acting_user: User, approve: bool) -> RebalanceProposal:
    """A sell proposal that raises what `amount` (a withdrawal or a fee, not yet debited) needs
    beyond the account's withdrawable cash: the engine's `invest_cash_flow` sells the most
    overweight holdings first, whole shares unless the account allows fractions, the
    highest-cost lots first, aiming `RAISE_BUFFER` above the shortfall. Approved at once when
    `approve` (or the account is in automatic mode), else left for the advisor.

    Validated, else `TradingError` on `amount` and nothing is written (call it inside the
    caller's transaction, which holds the account's lock): the account has a model; `amount` is
    no more than `account_liquid_value`; the plan's sells cover the shortfall; once approved, the
    sells that were not rejected still do."""
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
        sells = [t for t in proposal.trade_list if t.side == Side.SELL] if proposal is not None else []
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
