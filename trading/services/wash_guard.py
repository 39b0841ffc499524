"""Wash sales that a proposal's approval would make, household-wide, from what happened after it
was planned.

The engine plans against the household's wash-sale window as it stood that night. Two proposals
of one household planned apart (a household group's plan, then a harvest of another account the
next afternoon) can each be clean and wash each other once both are approved: the group buys the
security the harvest sells at a loss. Approval re-checks what only time can show:

- a harvest is refused when the household has bought one of the securities it sells since the
  harvest was planned, or has a buy of it open (the loss would be disallowed);
- any proposal is refused when it buys a security that the household has sold at a loss since it
  was planned, or is selling at a loss in an open harvest (the buy would wash that loss).

Refused, nothing is written and the proposal stays open: the next scan replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q

from portfolios.models import LotClosure
from trading.lifecycle import OPEN_STATES
from trading.models import Order, ProposalTrade, RebalanceProposal, Side


def approval_wash_conflicts(
    proposal: RebalanceProposal, trades: Sequence[ProposalTrade], *, harvest: bool
) -> list[str]:
    """Why approving `proposal` (its `trades`) now would make a wash sale in its household
    (empty: it would not)."""
    household_id = proposal.account.household_id
    sides: dict[str, set[int]] = {Side.BUY: set(), Side.SELL: set()}
    for trade in trades:
        sides[trade.side].add(trade.security_id)
    found: list[str] = []
    if harvest and sides[Side.SELL]:
        bought = (
            Order.objects.filter(account__household_id=household_id, side=Side.BUY, security_id__in=sides[Side.SELL])
            .filter(Q(status__in=OPEN_STATES) | Q(created_at__gt=proposal.created_at, filled_quantity__gt=0))
            .exclude(proposal=proposal)
            .values_list("security__symbol", flat=True)
            .distinct()
        )
        found += [
            f"{symbol} was bought in the household after this harvest was proposed (or a buy of it is open): "
            "selling it at a loss now would be a wash sale."
            for symbol in sorted(bought)
        ]
    if sides[Side.BUY]:
        sold_at_loss = set(
            LotClosure.objects.filter(
                lot__account__household_id=household_id,
                lot__security_id__in=sides[Side.BUY],
                gain__lt=0,
                entry__created_at__gt=proposal.created_at,
            ).values_list("lot__security__symbol", flat=True)
        ) | set(
            Order.objects.filter(
                account__household_id=household_id,
                side=Side.SELL,
                security_id__in=sides[Side.BUY],
                status__in=OPEN_STATES,
                proposal__harvest__isnull=False,
            )
            .exclude(proposal=proposal)
            .values_list("security__symbol", flat=True)
        )
        found += [
            f"{symbol} was sold at a loss in the household after this proposal was made (or a harvest is "
            "selling it): buying it now would wash that loss."
            for symbol in sorted(sold_at_loss)
        ]
    return found
