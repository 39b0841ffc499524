"""Every write of the trading domain (see each module's docstring for its guarantees)."""

from trading.services.account_opening import account_opening_request
from trading.services.blocks import block_orders_create
from trading.services.bulk import BulkApproval, proposals_approve_bulk
from trading.services.cash_flow import proposal_for_cash_flow, proposal_to_raise_cash
from trading.services.common import add_business_days, lock_account, withdrawable_cash
from trading.services.fills import Fill, FillRefused, execution_apply, fill_anomaly_resolve
from trading.services.harvest import HarvestResult, harvest_proposals_create, harvest_scan_run, harvest_settings_for
from trading.services.households import HouseholdProposals, group_snapshots, household_rebalance_propose
from trading.services.order_status import order_transition, release_funded_buys
from trading.services.orders import order_cancel, order_create, order_review_decide
from trading.services.outbox import RelayResult, outbox_backlog, relay_outbox
from trading.services.proposals import (
    cash_raise_shortfall,
    proposal_approve,
    proposal_create_for_accounts,
    proposal_discard,
)
from trading.services.settlement import settlement_run
from trading.services.transfers import transfer_bank_submit, transfer_create, transfer_status_apply, transfers_poll
from trading.services.webhooks import webhook_event_apply
from trading.services.withdrawals import withdrawal_request, withdrawals_release

__all__ = [
    "BulkApproval",
    "Fill",
    "FillRefused",
    "HarvestResult",
    "HouseholdProposals",
    "RelayResult",
    "account_opening_request",
    "add_business_days",
    "block_orders_create",
    "cash_raise_shortfall",
    "execution_apply",
    "fill_anomaly_resolve",
    "group_snapshots",
    "harvest_proposals_create",
    "harvest_scan_run",
    "harvest_settings_for",
    "household_rebalance_propose",
    "lock_account",
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
    "proposals_approve_bulk",
    "relay_outbox",
    "release_funded_buys",
    "settlement_run",
    "transfer_bank_submit",
    "transfer_create",
    "transfer_status_apply",
    "transfers_poll",
    "webhook_event_apply",
    "withdrawable_cash",
    "withdrawal_request",
    "withdrawals_release",
]
