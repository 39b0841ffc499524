"""Trading pages (HTMX) and the custodian's webhook endpoint, one module per resource.

Every view that touches an account, order or proposal first calls a user-scoped getter
(404 for others'); writes are for the household's advisor (`trading.permissions`). On an
HTMX request the view renders the named partial of the same template.
"""

from trading.views.blotter import blotter
from trading.views.bulk import model_rebalance, proposals_approve_bulk, proposals_open
from trading.views.households import group_create, group_propose, harvest_create, household_tax
from trading.views.operations import operations
from trading.views.orders import account_trading, order_cancel, order_create
from trading.views.proposals import proposal_create, proposal_decide, proposal_detail, proposals_create_bulk
from trading.views.transfers import transfer_create
from trading.views.webhooks import custodian_webhook

__all__ = [
    "account_trading",
    "blotter",
    "custodian_webhook",
    "group_create",
    "group_propose",
    "harvest_create",
    "household_tax",
    "model_rebalance",
    "operations",
    "order_cancel",
    "order_create",
    "proposal_create",
    "proposal_decide",
    "proposal_detail",
    "proposals_approve_bulk",
    "proposals_create_bulk",
    "proposals_open",
    "transfer_create",
]
