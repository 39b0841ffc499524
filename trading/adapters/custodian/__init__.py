"""The custodian adapter: the interface, the REST client, its configuration (`config`), webhook
signing and the sandbox."""

from trading.adapters.custodian.client import RestCustodian
from trading.adapters.custodian.config import get_custodian
from trading.adapters.custodian.interface import (
    AccountOpenAck,
    AccountOpenRequest,
    AccountOwnerInfo,
    Custodian,
    CustodianError,
    CustodianRejected,
    OrderAck,
    OrderRequest,
    Statement,
)

__all__ = [
    "AccountOpenAck",
    "AccountOpenRequest",
    "AccountOwnerInfo",
    "Custodian",
    "CustodianError",
    "CustodianRejected",
    "OrderAck",
    "OrderRequest",
    "RestCustodian",
    "Statement",
    "get_custodian",
]
