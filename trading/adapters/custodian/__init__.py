"""The custodian adapter: the interface, the REST client, webhook signing and the sandbox."""

from trading.adapters.custodian.client import RestCustodian, get_custodian
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
