"""Every write of the trading domain (see each module's docstring for its guarantees)."""

from trading.services.fills import (
    Fill,
    FillRefused,
    execution_apply,
    fill_anomaly_resolve,
    settlement_run,
    webhook_event_apply,
)
from trading.services.orders import (
    order_cancel,
    order_create,
    order_review_decide,
    order_transition,
    release_funded_buys,
)
from trading.services.outbox import RelayResult, outbox_backlog, relay_outbox
from trading.services.proposals import (
    proposal_approve,
    proposal_create_for_accounts,
    proposal_discard,
    proposal_for_cash_flow,
    proposal_to_raise_cash,
)
from trading.services.transfers import (
    transfer_bank_submit,
    transfer_create,
    transfer_status_apply,
    transfers_poll,
    withdrawal_request,
    withdrawals_release,
)

__all__ = [
    "Fill",
    "FillRefused",
    "RelayResult",
    "execution_apply",
    "fill_anomaly_resolve",
    "order_cancel",
    "order_create",
    "order_review_decide",
    "order_transition",
    "outbox_backlog",
    "proposal_approve",
    "proposal_create_for_accounts",
    "proposal_discard",
    "proposal_for_cash_flow",
    "proposal_to_raise_cash",
    "relay_outbox",
    "release_funded_buys",
    "settlement_run",
    "transfer_bank_submit",
    "transfer_create",
    "transfer_status_apply",
    "transfers_poll",
    "webhook_event_apply",
    "withdrawal_request",
    "withdrawals_release",
]
