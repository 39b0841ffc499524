"""What Kronos needs from a bank-transfer provider (shaped like Plaid Transfer).

An investor links an external bank account once; each deposit (a debit of that account)
or withdrawal (a credit to it) is a transfer with an idempotency key, whose status moves
pending -> posted -> settled, or ends failed / returned / cancelled.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

TRANSFER_END_STATES = frozenset({"settled", "failed", "returned", "cancelled"})
TRANSFER_FAILED_STATES = frozenset({"failed", "returned", "cancelled"})


class BankingError(Exception):
    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class BankLink:
    account_id: str
    mask: str
    institution: str


@dataclass(frozen=True, slots=True)
class BankTransfer:
    id: str
    account_id: str
    type: str  # "debit" (money in to us) | "credit" (money out to the investor)
    amount: Decimal
    status: str
    failure_reason: str = ""


class Banking(Protocol):
    def link_account(self, *, owner: str, institution: str = "Sandbox Bank") -> BankLink: ...

    def transfer_create(
        self, *, idempotency_key: str, account_id: str, type: str, amount: Decimal, description: str
    ) -> BankTransfer: ...

    def transfer_get(self, transfer_id: str) -> BankTransfer: ...
