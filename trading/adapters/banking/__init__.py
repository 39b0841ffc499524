"""The banking adapter (Plaid-shaped transfers): interface, REST client and sandbox."""

from trading.adapters.banking.client import RestBanking, get_banking
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
