r"""The order state machine: which status may follow which. Pure, no ORM.

    draft -> pending_review -> approved -> submitted -> partially_filled -> filled
                                                     \-> rejected | cancelled | failed (ends)
    draft | pending_review -> awaiting_funds -> approved   (a proposal's buy that its own
                                                             sells pay for; see services.funding)

Every status change of an order goes through `check_transition`, so an illegal move is a
`TradingError` with a readable message instead of a silent corruption of the lifecycle.
"""

from enum import StrEnum

from trading.errors import TradingError


class OrderStatus(StrEnum):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    #: A rebalance proposal's buy paid for by the proposal's own sells: it holds its cash
    #: reservation and goes to the custodian once those sells have filled (`release_funded_buys`).
    AWAITING_FUNDS = "awaiting_funds"
    SUBMITTED = "submitted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


S = OrderStatus

END_STATES: frozenset[OrderStatus] = frozenset({S.FILLED, S.REJECTED, S.CANCELLED, S.FAILED})
OPEN_STATES: frozenset[OrderStatus] = frozenset(set(S) - END_STATES)
#: States in which the custodian may hold the order (so a cancel must go through it).
AT_CUSTODIAN: frozenset[OrderStatus] = frozenset({S.SUBMITTED, S.PARTIALLY_FILLED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.DRAFT: frozenset({S.PENDING_REVIEW, S.AWAITING_FUNDS, S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.PENDING_REVIEW: frozenset({S.AWAITING_FUNDS, S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.AWAITING_FUNDS: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.SUBMITTED, S.CANCELLED, S.FAILED}),
    # The custodian may reject an order it accepted for review, or fill it in parts.
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.CANCELLED, S.FAILED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED}),
    S.FILLED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}


def can_transition(current: str, target: str) -> bool:
    return OrderStatus(target) in TRANSITIONS[OrderStatus(current)]


def check_transition(current: str, target: str) -> None:
    """Raise `TradingError` unless an order in `current` may move to `target`."""
    cur, tgt = OrderStatus(current), OrderStatus(target)
    if tgt not in TRANSITIONS[cur]:
        if cur in END_STATES:
            raise TradingError(
                f"The order is already {cur.label.lower()}; it cannot become {tgt.label.lower()}.",
                code="illegal_transition",
            )
        raise TradingError(
            f"An order that is {cur.label.lower()} cannot become {tgt.label.lower()}.", code="illegal_transition"
        )


def is_open(status: str) -> bool:
    return OrderStatus(status) in OPEN_STATES
