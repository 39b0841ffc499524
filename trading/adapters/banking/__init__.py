"""The banking adapter (Plaid-shaped transfers): interface, REST client, its configuration
(`config`) and sandbox."""

from trading.adapters.banking.client import RestBanking
from trading.adapters.banking.config import get_banking
from trading.adapters.banking.interface import (
    TRANSFER_END_STATES,
    TRANSFER_FAILED_STATES,
    Banking,
    BankingError,
    BankLink,
    BankTransfer,
)

__all__ = [
    "TRANSFER_END_STATES",
    "TRANSFER_FAILED_STATES",
    "BankLink",
    "BankTransfer",
    "Banking",
    "BankingError",
    "RestBanking",
    "get_banking",
]
