"""Trading's part of a split: its open orders in the security are adjusted on the ex-date.

Registered with `portfolios.corporate_actions.register_split_handler` at start-up
(`TradingConfig.ready`), so it runs inside the split's transaction, after the ledger and the
tax lots. The rule is the custodian's (`trading.adapters.custodian.interface`): the quantity
left x the ratio (whole shares ROUND_DOWN when it was whole, else 9 places), limit prices / the
ratio to cents (buys down, sells up), the estimated price / the ratio (6 places,
ROUND_HALF_EVEN); an order left with nothing to fill is cancelled. Each changed order keeps a
history row naming the acting user and the action.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from kronos.history import save_attributed
from portfolios.models import CorporateAction
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
