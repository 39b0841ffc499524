"""The trading API: proposals, orders, transfers and the account's journal, one module per resource.

Function-per-operation views with explicit input and output serializers. Every POST
that moves money or places an order needs an Idempotency-Key (kronos.idempotency).
Reads: the household's advisor, its investors and the firm's compliance and operations
staff; writes: the advisor (transfers also the household's investors). Others get 404
(the rules: `trading.permissions`).
"""

from trading.api.households import household_harvest_create, household_rebalance_create
from trading.api.journal import account_transactions
from trading.api.orders import order_cancel, order_detail, order_list
from trading.api.proposals import proposal_approve, proposal_create, proposal_detail
from trading.api.transfers import deposit_create, withdrawal_create

__all__ = [
    "account_transactions",
    "deposit_create",
    "household_harvest_create",
    "household_rebalance_create",
    "order_cancel",
    "order_detail",
    "order_list",
    "proposal_approve",
    "proposal_create",
    "proposal_detail",
    "withdrawal_create",
]
