"""Orders, their checks and executions, rebalance proposals, cash transfers, and the
outbox and webhook log that make talking to the custodian and the bank exactly-once.

Financial rows carry `history = HistoricalRecords()` and change only through
`trading.services`. The outbox and the webhook log are infrastructure: append-mostly
rows whose status is the only thing that changes. One module per subject; every model is
imported here (app label `trading`, table names unchanged).
"""

from trading.models.blocks import BlockExecution, BlockOrder
from trading.models.common import ZERO, Side, SnapshotJSONField, drift_field, price_field
from trading.models.messages import CustodianAccountRequest, OutboxMessage, WebhookEvent
from trading.models.orders import REASON_STATES, Execution, FillAnomaly, Order, OrderCheck
from trading.models.proposals import INPUTS_RELATED, HarvestRecord, ProposalDocument, ProposalTrade, RebalanceProposal
from trading.models.transfers import BankLink, CashTransfer

__all__ = [
    "INPUTS_RELATED",
    "REASON_STATES",
    "ZERO",
    "BankLink",
    "BlockExecution",
    "BlockOrder",
    "CashTransfer",
    "CustodianAccountRequest",
    "Execution",
    "FillAnomaly",
    "HarvestRecord",
    "Order",
    "OrderCheck",
    "OutboxMessage",
    "ProposalDocument",
    "ProposalTrade",
    "RebalanceProposal",
    "Side",
    "SnapshotJSONField",
    "WebhookEvent",
    "drift_field",
    "price_field",
]
