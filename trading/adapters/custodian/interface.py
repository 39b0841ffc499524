"""What Kronos needs from a custodian, independent of who the custodian is.

Orders carry a client order id chosen by Kronos, the same on every retry, so a custodian
that saw an order before answers with the same acknowledgement instead of a second order.
Fills come back asynchronously as signed webhooks (see `signing`).
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Protocol


class CustodianError(Exception):
    """The custodian could not be reached or answered with an error."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class CustodianRejected(CustodianError):
    """The custodian refused the request for good (a 4xx): retrying will not help."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message, retryable=False, status=status)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    account_ref: str
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit"
    quantity: Decimal | None  # None for an amount (notional) order
    amount: Decimal | None = None
    limit_price: Decimal | None = None
    price_hint: Decimal | None = None  # our latest price, which the sandbox may fill at

    def as_json(self) -> dict[str, str | None]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "client_order_id": self.client_order_id,
            "account": self.account_ref,
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type,
            "quantity": s(self.quantity),
            "amount": s(self.amount),
            "limit_price": s(self.limit_price),
            "price": s(self.price_hint),
        }


@dataclass(frozen=True, slots=True)
class OrderAck:
    client_order_id: str
    custodian_order_id: str
    status: str  # "accepted" | "filled" | "partially_filled" | "cancelled" | "rejected"
    filled_quantity: Decimal = Decimal(0)
    message: str = ""


@dataclass(frozen=True, slots=True)
class Statement:
    """The custodian's own books for one account as of a date."""

    account_ref: str
    as_of: date
    cash: Decimal
    positions: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class AccountOwnerInfo:
    """What the custodian needs of each owner to open an account (its own CIP)."""

    reference: str
    role: str
    first_name: str
    last_name: str
    date_of_birth: str
    email: str
    phone: str
    tax_id: str
    citizenship: str
    address: dict[str, str]

    def as_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "role": self.role,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "date_of_birth": self.date_of_birth,
            "email": self.email,
            "phone": self.phone,
            "tax_id": self.tax_id,
            "citizenship": self.citizenship,
            "address": self.address,
        }


@dataclass(frozen=True, slots=True)
class AccountOpenRequest:
    request_id: str
    account_type: str
    title: str
    currency: str
    owners: tuple[AccountOwnerInfo, ...]
    # The account trades fractional shares: the custodian keeps a split's fractions for it
    # rather than paying them in lieu (the rule Kronos's books follow, so both agree).
    fractional_shares: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "account_type": self.account_type,
            "title": self.title,
            "currency": self.currency,
            "owners": [o.as_json() for o in self.owners],
            "fractional_shares": self.fractional_shares,
        }


@dataclass(frozen=True, slots=True)
class AccountOpenAck:
    """The custodian took the request; the number comes by webhook (`account.opened`)."""

    request_id: str
    status: str  # "pending" | "opened" | "rejected"
    account_number: str = ""
    message: str = ""


class Custodian(Protocol):
    def open_account(self, request: AccountOpenRequest) -> AccountOpenAck: ...

    def submit_order(self, order: OrderRequest) -> OrderAck: ...

    def cancel_order(self, client_order_id: str) -> OrderAck: ...

    def get_order(self, client_order_id: str) -> OrderAck: ...

    def statement(self, account_ref: str, as_of: date) -> Statement: ...

    def update_account_settings(self, account_ref: str, *, fractional_shares: bool) -> None: ...


CENT = Decimal("0.01")


def split_adjusted_limit_price(limit_price: Decimal, side: str, *, split_to: int, split_from: int) -> Decimal:
    """An open order's limit price after a split of `split_to` new shares for `split_from` old:
    divided by the ratio, to cents, a buy's rounded down and a sell's up (neither pays more nor
    takes less per old share than asked); never below a cent. Kronos and the sandbox custodian
    both adjust by this rule."""
    exact = limit_price * split_from / split_to
    adjusted = exact.quantize(CENT, rounding=ROUND_DOWN if side == "buy" else ROUND_UP)
    return max(adjusted, CENT)


def split_adjusted_leaves(leaves: Decimal, *, split_to: int, split_from: int) -> Decimal:
    """An open order's unfilled quantity after a split: x the ratio, whole shares (ROUND_DOWN)
    when it was whole, else 9 places (ROUND_DOWN). Zero means nothing is left to fill."""
    exact = leaves * split_to / split_from
    quantum = Decimal(1) if leaves == leaves.to_integral_value() else Decimal("0.000000001")
    return exact.quantize(quantum, rounding=ROUND_DOWN)
