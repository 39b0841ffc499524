"""Wash-sale adjustments: after a trade, the household's loss sales and replacement purchases in
its window are matched (`portfolios.engine.wash_sales`) and each new match is booked: the loss
sale's disallowed part, and the replacement shares' cost and holding period."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN

from django.db import transaction
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from kronos.history import save_attributed
from portfolios.engine.rebalancing import WASH_SALE_DAYS
from portfolios.engine.wash_sales import WashSaleMatch, wash_sale_matches
from portfolios.models import LotClosure, TaxLot, WashSaleAdjustment
from portfolios.selectors.lots import household_wash_sale_history
from portfolios.services.common import COST_QUANTUM


def wash_sales_apply(
    *, household_id: int, security_id: int, on: date, acting_user: User, savepoint: bool = True
) -> list[WashSaleAdjustment]:
    """Book the wash sales a trade in `security_id` on `on` made in the household: loss sales
    closed within 30 days of `on` against the household's purchases within 30 days of them.

    For each new match: the closure's `wash_sale_disallowed` grows by the match's disallowed
    loss; the replacement shares (split into their own lot when the match covers only part of
    an open lot, the rest staying in the original lot) have that loss added to their cost (per
    share, rounded to 6 places, ROUND_HALF_EVEN; `wash_sale_adjustment` keeps the amount) and
    their holding period moved back by the sold lot's (`held_from`). Idempotent: a match once
    booked uses up its shares, so running it again books nothing more.

    In one transaction; `savepoint=False` (a fill's, whose failure rolls everything back) takes
    none of its own inside the caller's."""
    with transaction.atomic(savepoint=savepoint):
        return _wash_sales_apply(household_id=household_id, security_id=security_id, on=on, acting_user=acting_user)


def _wash_sales_apply(*, household_id: int, security_id: int, on: date, acting_user: User) -> list[WashSaleAdjustment]:
    history = household_wash_sale_history(
        household_id=household_id,
        security_ids=[security_id],
        start=on - timedelta(days=WASH_SALE_DAYS),
        end=on + timedelta(days=WASH_SALE_DAYS),
        only_if_matchable=True,
    )
    matches = wash_sale_matches(history.sales, history.acquisitions)
    if not matches:
        return []
    lots = {lot.pk: lot for lot in TaxLot.objects.select_for_update().filter(pk__in=[int(m.lot_id) for m in matches])}
    closures = {
        c.pk: c for c in LotClosure.objects.select_for_update().filter(pk__in=[int(m.sale_id) for m in matches])
    }
    adjustments = []
    for match in matches:
        replacement = _replacement_lot(lots[int(match.lot_id)], match, acting_user=acting_user)
        closure = closures[int(match.sale_id)]
        closure.wash_sale_disallowed += match.disallowed
        save_attributed(closure, acting_user=acting_user, reason="wash sale: loss disallowed", validate=False)
        adjustments.append(
            WashSaleAdjustment(
                closure=closure,
                replacement=replacement,
                quantity=match.quantity,
                disallowed=match.disallowed,
                held_days=match.held_days,
            )
        )
    return bulk_create_with_history(
        adjustments, WashSaleAdjustment, default_user=acting_user, default_change_reason="wash sale"
    )


def _replacement_lot(lot: TaxLot, match: WashSaleMatch, *, acting_user: User) -> TaxLot:
    if match.quantity < lot.quantity:
        # The matched shares become their own lot; the purchase's other shares stay in `lot`,
        # whose original quantity drops by as many (closed shares = original - open, unchanged).
        lot.quantity -= match.quantity
        lot.original_quantity -= match.quantity
        save_attributed(lot, acting_user=acting_user, reason="wash sale: replacement shares split off", validate=False)
        lot = TaxLot(
            account_id=lot.account_id,
            security_id=lot.security_id,
            quantity=match.quantity,
            original_quantity=match.quantity,
            cost_per_share=lot.cost_per_share,
            acquired_on=lot.acquired_on,
            held_from=lot.held_from,
            entry_id=lot.entry_id,
            split_from_id=lot.split_from_id or lot.pk,
        )
    lot.cost_per_share = (lot.cost_per_share + match.disallowed / match.quantity).quantize(
        COST_QUANTUM, rounding=ROUND_HALF_EVEN
    )
    lot.wash_sale_adjustment += match.disallowed
    lot.held_from = (lot.held_from or lot.acquired_on) - timedelta(days=match.held_days)
    return save_attributed(lot, acting_user=acting_user, reason="wash sale: replacement shares", validate=False)
