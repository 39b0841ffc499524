"""Bulk work from the book: proposals approved together, their orders sent as block orders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction

from accounts.models import User
from trading.errors import TradingError
from trading.models import BlockOrder, Order, RebalanceProposal
from trading.services.blocks import block_orders_create
from trading.services.proposals import proposal_approve


@dataclass
class BulkApproval:
    approved: list[RebalanceProposal] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    refused: list[tuple[RebalanceProposal, str]] = field(default_factory=list)
    blocks: list[BlockOrder] = field(default_factory=list)


def proposals_approve_bulk(
    *, proposals: Sequence[RebalanceProposal], acting_user: User, block: bool = True
) -> BulkApproval:
    """Approve each proposal through `proposal_approve` (its own checks, its own savepoint: one
    that cannot be approved is named with the reason and the others go on), then gather the
    approved orders of one security and side across accounts into block orders (`block`).

    All in one transaction, so the orders' submissions are queued and blocked before any relay
    can send them alone; the relay is kicked after the commit. The caller checks that the user
    may trade every proposal's account."""
    result = BulkApproval()
    with transaction.atomic():
        for proposal in sorted(proposals, key=lambda p: p.pk):
            try:
                with transaction.atomic():
                    orders = proposal_approve(proposal=proposal, acting_user=acting_user)
            except TradingError as exc:
                result.refused.append((proposal, str(exc)))
                continue
            result.approved.append(proposal)
            result.orders.extend(orders)
        if block and result.orders:
            result.blocks = block_orders_create(acting_user=acting_user, order_ids=[o.pk for o in result.orders])
    return result
