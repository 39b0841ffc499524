"""The custodian adapter: the interface, the REST client, webhook signing and the sandbox."""

from trading.adapters.custodian.client import RestCustodian, get_custodian
from trading.adapters.custodian.interface import (
    Custodian,
    CustodianError,
    CustodianRejected,
    OrderAck,
    OrderRequest,
    Statement,
)

__all__ = [
    "Custodian",
    "CustodianError",
    "CustodianRejected",
    "OrderAck",
    "OrderRequest",
    "RestCustodian",
    "Statement",
    "get_custodian",
]
