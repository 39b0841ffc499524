"""The sandbox custodian: a local HTTP service that behaves like a custodian's REST API.

It accepts orders (idempotent on the client order id), fills them at the price given in
the order or the latest price it can look up, keeps its own books per account, and POSTs
HMAC-signed webhooks for every fill. To let tests hurt Kronos it can be told (by the
constructor or `POST /control`) to fail a fraction of calls — half of them *after* the
order was taken, like a timeout that lost the answer — to delay answers, to hold orders
unfilled, to fill in parts, and to duplicate and reorder webhooks. For a whole simulated
firm (`operations/simulation`) it can also reject a fraction of orders (422), fill a
fraction only in part until the next trading round (`fill-held`) or the day's close (the
rest expires, with an `order.cancelled` event), hold back a fraction of webhooks for a later
delivery round, and take shares in from another custodian. Its random choices are keyed by
what they are about (the order's account, symbol, side and quantity; the webhook), so a
seeded run decides the same way whatever order threads call it in.

Endpoints:
    POST /v1/orders                      place (Idempotency-Key / client_order_id dedupe)
    GET  /v1/orders/<client_order_id>    the order's state
    POST /v1/orders/<id>/cancel          cancel what is not filled yet
    GET  /v1/accounts/<ref>/statement?as_of=YYYY-MM-DD   positions and cash from its books
    GET  /v1/statements?as_of=YYYY-MM-DD&accounts=A,B,...  the same for many accounts in one answer
                                         (its daily positions and balances file; at most
                                         STATEMENTS_PAGE accounts a call, in the order asked)
    POST /v1/accounts/<ref>/cash         {"amount": "..."}: a cash movement (transfers)
    POST /v1/accounts/<ref>/positions    {"symbol": "...", "quantity": "..."}: shares moved in
                                         (or out, negative) from another custodian; or
                                         {"positions": [{"symbol", "quantity"}, ...]}: a whole transfer
    POST /v1/accounts/<ref>/settings     {"fractional_shares": true}: the account keeps fractions
    POST /v1/corporate-actions           a dividend or split to process (its feed; see below)
    GET  /v1/corporate-actions           what it was told
    POST /v1/accounts                    open an account (Idempotency-Key / request_id dedupe); answers
                                         202 pending, then the `account.opened` webhook carries the number
                                         (an owner whose last name contains "Decline" gets `account.rejected`)
    POST /control                        {"fail_rate": 0.3, "duplicate_rate": 0.2, "reject_rate": 0.02,
                                          "partial_rate": 0.1, "defer_rate": 0.2, ...}
    POST /control/fill-held              fill every held order now (and the rest of partial ones, and
                                         with "market_hours" those taken while the market was closed)
    POST /control/close-day              the day's close: cancel every order still open
    GET  /control/stats                  counters

Corporate actions are processed as a custodian does, from its own books: a split's ex-date
multiplies what each account held at the close of the day before (whole shares kept, ROUND_DOWN,
the fraction paid as cash in lieu at the action's price, to cents ROUND_HALF_EVEN; an account
set to fractional shares -- or already holding a fraction -- keeps 9 places) and adjusts open
orders (the quantity left x ratio, limit prices / ratio to cents: buys down, sells up; an order
left with nothing is cancelled); a cash dividend pays on its pay date what the holders at the
close before the ex-date are owed (per account, to cents ROUND_HALF_EVEN). The statement applies
them in date order, so a statement as of any day is what the custodian held that day.

Webhook delivery is "push" (a background thread POSTs to `webhook_url`, retrying until a
2xx, like real custodians) or "manual" (queued; a test drains them with
`deliver_pending(send)` in its own thread, so it can use Django's test client).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import requests

from trading.adapters.custodian import signing
from trading.adapters.custodian.interface import split_adjusted_leaves, split_adjusted_limit_price

logger = logging.getLogger(__name__)

QUANTITY_PLACES = Decimal("0.000000001")
CENTS = Decimal("0.01")
MAX_QUANTITY = Decimal("1e12")
STATEMENTS_PAGE = 500  # accounts one `GET /v1/statements` answers for


def execution_amount(quantity: Decimal, price: Decimal) -> Decimal:
    """Cash value of one execution, rounded to cents half-even (Kronos rounds the same way)."""
    return (quantity * price).quantize(CENTS, rounding=ROUND_HALF_EVEN)


#: The custodian's business day is the US market's: its trade dates (and statements) turn over at
#: midnight in New York, not at midnight UTC (which falls at 19:00 or 20:00 there).
MARKET_TIME_ZONE = ZoneInfo("America/New_York")


def business_date(now: datetime | None = None) -> date:
    """The custodian's date at `now` (default: this moment)."""
    return (now or datetime.now(UTC)).astimezone(MARKET_TIME_ZONE).date()


MARKET_OPEN = clock_time(9, 30)
MARKET_CLOSE = clock_time(16, 0)


def market_is_open(now: datetime | None = None) -> bool:
    """Whether the regular session is on at `now` (default: this moment): a weekday between the
    open and the close in New York. (Exchange holidays are the caller's calendar: the sandbox is
    not told them.)"""
    local = (now or datetime.now(UTC)).astimezone(MARKET_TIME_ZONE)
    return local.weekday() < 5 and MARKET_OPEN <= local.time() < MARKET_CLOSE


@dataclass
class SandboxOrder:
    id: str
    client_order_id: str
    account: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    price: Decimal
    status: str = "accepted"
    filled: Decimal = Decimal(0)
    executions: int = 0

    def as_json(self, message: str = "") -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "quantity": str(self.quantity),
            "status": self.status,
            "filled_quantity": str(self.filled),
            "message": message,
        }


@dataclass
class Options:
    fail_rate: float = 0.0
    delay: float = 0.0
    duplicate_rate: float = 0.0
    reorder: bool = False
    partial_fills: bool = False
    hold: bool = False
    reject_rate: float = 0.0  # orders refused with 422 ("rejected by the custodian")
    partial_rate: float = 0.0  # orders filled in part now, the rest at the next fill round
    defer_rate: float = 0.0  # webhooks held back from a delivery round (sent in a later one)
    # Orders taken outside the market's hours (09:30-16:00 New York, Monday to Friday) wait for the
    # next session, as a custodian queues them; `fill_held` (the open) works them then.
    market_hours: bool = False

    def update(self, data: dict[str, Any]) -> None:
        for key in ("fail_rate", "delay", "duplicate_rate", "reject_rate", "partial_rate", "defer_rate"):
            if key in data:
                setattr(self, key, float(data[key]))
        for key in ("reorder", "partial_fills", "hold", "market_hours"):
            if key in data:
                setattr(self, key, bool(data[key]))


@dataclass
class Stats:
    orders: int = 0
    duplicates_deduped: int = 0
    injected_failures: int = 0
    webhooks_sent: int = 0
    webhook_failures: int = 0
    injected_rejections: int = 0
    partial_orders: int = 0
    deferred_webhooks: int = 0
    expired_orders: int = 0


@dataclass
class _Book:
    # (day, asset, delta): "CASH" or a symbol
    moves: list[tuple[date, str, Decimal]] = field(default_factory=list)
    fractional_shares: bool | None = None  # None: not told (a fraction held means yes)


@dataclass(frozen=True)
class SandboxCorporateAction:
    id: str
    type: str  # "cash_dividend" | "split"
    symbol: str
    ex_date: date
    pay_date: date | None = None
    cash_amount: Decimal | None = None
    split_to: int | None = None
    split_from: int | None = None
    cash_in_lieu_price: Decimal | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "symbol": self.symbol,
            "ex_date": self.ex_date.isoformat(),
            "pay_date": self.pay_date.isoformat() if self.pay_date else None,
            "cash_amount": None if self.cash_amount is None else str(self.cash_amount),
            "split_to": self.split_to,
            "split_from": self.split_from,
            "cash_in_lieu_price": None if self.cash_in_lieu_price is None else str(self.cash_in_lieu_price),
        }


class SandboxCustodian:
    def __init__(
        self,
        *,
        secret: str,
        webhook_url: str | None = None,
        price_lookup: Callable[[str], Decimal | None] | None = None,
        seed: int | None = None,
        today: Callable[[], date] | None = None,
        **options: Any,
    ):
        self.secret = secret
        self.webhook_url = webhook_url
        self.price_lookup = price_lookup
        self.options = Options()
        self.options.update(options)
        self.stats = Stats()
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 -- fault injection, not security  # nosec B311 -- not for security: deterministic demo data or retry jitter
        self._draws: dict[str, int] = {}
        self.today = today or business_date
        self._lock = threading.RLock()
        self._orders: dict[str, SandboxOrder] = {}
        self._openings: dict[str, dict[str, Any]] = {}
        self._next_account = 1
        self._books: dict[str, _Book] = {}
        self._actions: dict[str, SandboxCorporateAction] = {}
        self._orders_adjusted: set[str] = set()
        self._webhooks: list[bytes] = []
        self._partial: set[str] = set()  # client order ids filled in part, the rest waiting
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- the books -------------------------------------------------------------------------
    def _book(self, account: str) -> _Book:
        return self._books.setdefault(account, _Book())

    def statement(self, account: str, as_of: date) -> dict[str, Any]:
        with self._lock:
            self._adjust_orders_for_splits()
            cash = Decimal(0)
            positions: dict[str, Decimal] = {}
            book = self._book(account)
            for day, asset, delta in [*book.moves, *self._action_moves(book, as_of)]:
                if day > as_of:
                    continue
                if asset == "CASH":
                    cash += delta
                else:
                    positions[asset] = positions.get(asset, Decimal(0)) + delta
        return {
            "account": account,
            "as_of": as_of.isoformat(),
            "cash": str(cash),
            "positions": {s: str(q) for s, q in sorted(positions.items()) if q != 0},
        }

    def statements(self, accounts: list[str], as_of: date) -> list[dict[str, Any]]:
        """`statement` for each of `accounts`, in the order given (an account it does not know
        has an empty statement, as with one account)."""
        return [self.statement(account, as_of) for account in accounts]

    def move_cash(self, account: str, amount: Decimal) -> None:
        with self._lock:
            self._book(account).moves.append((self.today(), "CASH", amount))

    def move_position(self, account: str, symbol: str, quantity: Decimal) -> None:
        """Shares moved in (or out) from another custodian (an account transfer)."""
        with self._lock:
            self._book(account).moves.append((self.today(), symbol.upper(), quantity))

    # --- seeded choices ----------------------------------------------------------------------
    def _draw(self, key: str) -> random.Random:
        """A generator for the n-th choice about `key`: the same for a seed whatever the order
        in which threads ask (the shared `rng` is for the single-threaded delivery rounds)."""
        with self._lock:
            n = self._draws.get(key, 0)
            self._draws[key] = n + 1
        digest = hashlib.sha256(f"{self.seed}|{key}|{n}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311  # nosec B311 -- fault injection

    @staticmethod
    def _order_key(payload: dict[str, Any]) -> str:
        return "|".join(str(payload.get(k) or "") for k in ("account", "symbol", "side", "quantity", "amount"))

    def account_settings(self, account: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            book = self._book(account)
            if "fractional_shares" in data:
                book.fractional_shares = bool(data["fractional_shares"])
            return {"account": account, "fractional_shares": book.fractional_shares}

    # --- corporate actions -----------------------------------------------------------------
    def corporate_action(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Take a dividend or split to process (idempotent on its id): 201, 200 when known, 422."""
        try:
            action = self._parse_action(payload)
        except (ValueError, InvalidOperation, TypeError) as exc:
            return 422, {"detail": str(exc)}
        with self._lock:
            known = self._actions.get(action.id)
            if known is not None:
                return 200, known.as_json()
            self._actions[action.id] = action
            return 201, action.as_json()

    def corporate_actions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a.as_json() for a in sorted(self._actions.values(), key=lambda a: (a.ex_date, a.id))]

    def _parse_action(self, payload: dict[str, Any]) -> SandboxCorporateAction:
        def dec(name: str) -> Decimal | None:
            raw = payload.get(name)
            if raw in (None, ""):
                return None
            value = Decimal(str(raw))
            if not value.is_finite() or value <= 0:
                raise ValueError(f"{name} must be a positive number.")
            return value

        def day(name: str) -> date | None:
            raw = payload.get(name)
            return date.fromisoformat(str(raw)) if raw else None

        kind = payload.get("type")
        symbol = str(payload.get("symbol") or "").upper()
        ex_date = day("ex_date")
        action_id = str(payload.get("id") or "")
        if not action_id or not symbol or ex_date is None:
            raise ValueError("id, symbol and ex_date are required.")
        if kind == "cash_dividend":
            amount, pay_date = dec("cash_amount"), day("pay_date")
            if amount is None or pay_date is None or pay_date < ex_date:
                raise ValueError("A cash dividend needs a cash_amount and a pay_date on or after the ex_date.")
            return SandboxCorporateAction(action_id, kind, symbol, ex_date, pay_date=pay_date, cash_amount=amount)
        if kind == "split":
            split_to, split_from = dec("split_to"), dec("split_from")
            if split_to is None or split_from is None or split_to == split_from:
                raise ValueError("A split needs split_to and split_from (different, positive).")
            ratio = Fraction(split_to) / Fraction(split_from)
            price = dec("cash_in_lieu_price")
            if price is None and self.price_lookup is not None:
                price = self.price_lookup(symbol)
            return SandboxCorporateAction(
                action_id,
                kind,
                symbol,
                ex_date,
                split_to=ratio.numerator,
                split_from=ratio.denominator,
                cash_in_lieu_price=price,
            )
        raise ValueError("type must be cash_dividend or split.")

    def _action_moves(self, book: _Book, as_of: date) -> list[tuple[date, str, Decimal]]:
        """The moves the corporate actions due by `as_of` make in `book`, in ex-date order (each
        from the holding at the close before its ex-date, earlier actions included)."""
        derived: list[tuple[date, str, Decimal]] = []
        if not self._actions:
            return derived
        by_asset: dict[str, list[tuple[date, Decimal]]] = {}  # each action reads its symbol's moves only
        for d, a, q in book.moves:
            by_asset.setdefault(a, []).append((d, q))
        for action in sorted(self._actions.values(), key=lambda a: (a.ex_date, a.id)):
            if action.ex_date > as_of:
                break
            before = action.ex_date
            held = sum((q for d, q in by_asset.get(action.symbol, ()) if d < before), Decimal(0))
            held += sum((q for d, a, q in derived if a == action.symbol and d < before), Decimal(0))
            if held <= 0:
                continue
            if action.type == "cash_dividend":
                assert action.pay_date is not None and action.cash_amount is not None
                if action.pay_date <= as_of:
                    paid = (held * action.cash_amount).quantize(CENTS, rounding=ROUND_HALF_EVEN)
                    if paid:
                        derived.append((action.pay_date, "CASH", paid))
                continue
            assert action.split_to and action.split_from
            exact = held * action.split_to / action.split_from
            fractional = book.fractional_shares
            if fractional is None:
                fractional = held != held.to_integral_value()
            kept = exact.quantize(QUANTITY_PLACES if fractional else Decimal(1), rounding=ROUND_DOWN)
            if kept != held:
                derived.append((action.ex_date, action.symbol, kept - held))
            fraction = exact - kept
            if fraction and action.cash_in_lieu_price is not None:
                in_lieu = (fraction * action.cash_in_lieu_price).quantize(CENTS, rounding=ROUND_HALF_EVEN)
                if in_lieu:
                    derived.append((action.ex_date, "CASH", in_lieu))
        return derived

    def _adjust_orders_for_splits(self) -> None:
        """On (or after) a split's ex-date, once: open orders in the security are adjusted."""
        today = self.today()
        for action in self._actions.values():
            if action.type != "split" or action.ex_date > today or action.id in self._orders_adjusted:
                continue
            self._orders_adjusted.add(action.id)
            assert action.split_to and action.split_from
            for order in self._orders.values():
                if order.symbol != action.symbol or order.status not in ("accepted", "partially_filled"):
                    continue
                new_leaves = split_adjusted_leaves(
                    order.quantity - order.filled, split_to=action.split_to, split_from=action.split_from
                )
                order.price = (order.price * action.split_from / action.split_to).quantize(
                    Decimal("0.000001"), rounding=ROUND_HALF_EVEN
                )
                if order.limit_price is not None:
                    order.limit_price = split_adjusted_limit_price(
                        order.limit_price, order.side, split_to=action.split_to, split_from=action.split_from
                    )
                if new_leaves <= 0:
                    order.status = "cancelled"
                    self._enqueue(
                        "order.cancelled",
                        {
                            "client_order_id": order.client_order_id,
                            "custodian_order_id": order.id,
                            "cumulative_quantity": str(order.filled),
                        },
                    )
                    continue
                order.quantity = order.filled + new_leaves

    # --- account opening -------------------------------------------------------------------
    def open_account(self, payload: dict[str, Any], idempotency_key: str = "") -> tuple[int, dict[str, Any]]:
        """Take an account-opening request once per request id; the number follows by webhook."""
        failure = self._inject_failure()
        if failure == "before":
            return 503, {"detail": "The sandbox custodian is unavailable (injected)."}
        request_id = str(payload.get("request_id") or idempotency_key or "")
        owners = payload.get("owners")
        if not request_id:
            return 400, {"detail": "request_id is required."}
        if not isinstance(owners, list) or not owners or not all(isinstance(o, dict) for o in owners):
            return 422, {"detail": "owners must be a non-empty list."}
        missing = [
            f"owners[{i}].{f}"
            for i, o in enumerate(owners)
            for f in ("first_name", "last_name", "date_of_birth", "tax_id", "address")
            if not o.get(f)
        ]
        if missing:
            return 422, {"detail": f"Missing customer identification: {', '.join(missing)}."}
        with self._lock:
            existing = self._openings.get(request_id)
            if existing is not None:
                return 200, dict(existing)
            declined = any("decline" in str(o.get("last_name", "")).lower() for o in owners)
            number = "" if declined else f"SBX-{self._next_account:08d}"
            if not declined:
                self._next_account += 1
            record = {"request_id": request_id, "status": "pending", "account_number": "", "message": ""}
            self._openings[request_id] = record
            if declined:
                record.update(status="rejected", message="The custodian could not verify an owner (sandbox).")
                self._enqueue("account.rejected", {"request_id": request_id, "reason": record["message"]})
            else:
                record.update(status="opened", account_number=number)
                self._enqueue("account.opened", {"request_id": request_id, "account_number": number})
        if failure == "after":
            return 503, {"detail": "The sandbox custodian lost the answer (injected)."}
        return 202, {"request_id": request_id, "status": "pending", "account_number": "", "message": ""}

    # --- orders ----------------------------------------------------------------------------
    def _inject_failure(self, key: str = "") -> str | None:
        """None, or "before" / "after": fail the call without / after doing its work."""
        if not self.options.fail_rate:
            return None
        rng = self._draw(f"fail|{key}") if key else self.rng
        if rng.random() < self.options.fail_rate:
            self.stats.injected_failures += 1
            return "before" if rng.random() < 0.5 else "after"
        return None

    def place(self, payload: dict[str, Any], idempotency_key: str = "") -> tuple[int, dict[str, Any]]:
        key = self._order_key(payload) if self.seed is not None else ""
        failure = self._inject_failure(key)
        if failure == "before":
            return 503, {"detail": "The sandbox custodian is unavailable (injected)."}
        status, body = self._place(payload, idempotency_key)
        if failure == "after":
            return 503, {"detail": "The sandbox custodian lost the answer (injected)."}
        return status, body

    def _place(self, payload: dict[str, Any], idempotency_key: str) -> tuple[int, dict[str, Any]]:
        coid = str(payload.get("client_order_id") or idempotency_key or "")
        if not coid:
            return 400, {"detail": "client_order_id is required."}
        with self._lock:
            self._adjust_orders_for_splits()
            existing = self._orders.get(coid)
            if existing is not None:
                self.stats.duplicates_deduped += 1
                return 200, existing.as_json("duplicate")
            try:
                order = self._new_order(coid, payload)
            except ValueError as exc:
                return 422, {"detail": str(exc)}
            choice = self._draw(f"order|{self._order_key(payload)}") if self.seed is not None else self.rng
            if self.options.reject_rate and choice.random() < self.options.reject_rate:
                self.stats.injected_rejections += 1
                return 422, {"detail": f"Order rejected by the custodian (injected): {order.symbol} {order.side}."}
            self._orders[coid] = order
            self.stats.orders += 1
            if self.options.partial_rate and choice.random() < self.options.partial_rate:
                self._partial.add(coid)
                self.stats.partial_orders += 1
            if not self.options.hold and self._session_open():
                self._try_fill(order)
            return 201, order.as_json()

    def _new_order(self, coid: str, payload: dict[str, Any]) -> SandboxOrder:
        def dec(name: str) -> Decimal | None:
            raw = payload.get(name)
            if raw in (None, ""):
                return None
            try:
                value = Decimal(str(raw))
            except InvalidOperation:
                raise ValueError(f"{name} is not a decimal.") from None
            if not value.is_finite() or value <= 0 or value > MAX_QUANTITY:
                raise ValueError(f"{name} must be a positive finite number.")
            return value

        symbol = str(payload.get("symbol") or "").upper()
        side = payload.get("side")
        if side not in ("buy", "sell"):
            raise ValueError("side must be buy or sell.")
        order_type = payload.get("order_type") or "market"
        if order_type not in ("market", "limit"):
            raise ValueError("order_type must be market or limit.")
        price = dec("price")
        if price is None and self.price_lookup is not None:
            price = self.price_lookup(symbol)
        if not symbol or price is None:
            raise ValueError(f"No price for symbol {symbol!r}.")
        limit_price = dec("limit_price")
        if order_type == "limit" and limit_price is None:
            raise ValueError("A limit order needs a limit_price.")
        quantity = dec("quantity")
        amount = dec("amount")
        if quantity is None:
            if amount is None:
                raise ValueError("quantity or amount is required.")
            quantity = (amount / price).quantize(QUANTITY_PLACES, rounding=ROUND_DOWN)
            if quantity <= 0:
                raise ValueError("The amount buys nothing at this price.")
        account = str(payload.get("account") or "")
        if not account:
            raise ValueError("account is required.")
        return SandboxOrder(
            id=f"SBX-{uuid.uuid4().hex[:16]}",
            client_order_id=coid,
            account=account,
            symbol=symbol,
            side=side,
            order_type=order_type,
            quantity=quantity,
            limit_price=limit_price,
            price=price,
        )

    def _marketable(self, order: SandboxOrder) -> bool:
        if order.order_type != "limit" or order.limit_price is None:
            return True
        if order.side == "buy":
            return order.price <= order.limit_price
        return order.price >= order.limit_price

    def _try_fill(self, order: SandboxOrder) -> None:
        if order.status not in ("accepted", "partially_filled") or not self._marketable(order):
            return
        remaining = order.quantity - order.filled
        if order.client_order_id in self._partial:
            # A part now (whole shares when the order is in whole shares), the rest at the next round.
            self._partial.discard(order.client_order_id)
            part = (remaining / 2).quantize(Decimal(1) if remaining == remaining.to_integral() else QUANTITY_PLACES,
                                            rounding=ROUND_DOWN)  # fmt: skip
            if 0 < part < remaining:
                self._execute(order, part)
                return
        if self.options.partial_fills and remaining > QUANTITY_PLACES:
            first = (remaining / 2).quantize(QUANTITY_PLACES, rounding=ROUND_DOWN)
            parts = [first, remaining - first]
        else:
            parts = [remaining]
        for qty in parts:
            self._execute(order, qty)

    def _execute(self, order: SandboxOrder, quantity: Decimal) -> None:
        order.executions += 1
        order.filled += quantity
        order.status = "filled" if order.filled >= order.quantity else "partially_filled"
        amount = execution_amount(quantity, order.price)
        sign = 1 if order.side == "buy" else -1
        book = self._book(order.account)
        day = self.today()
        book.moves.append((day, order.symbol, sign * quantity))
        book.moves.append((day, "CASH", -sign * amount))
        self._enqueue(
            "order.fill",
            {
                "client_order_id": order.client_order_id,
                "custodian_order_id": order.id,
                "execution_id": f"{order.id}-X{order.executions}",
                "account": order.account,
                "symbol": order.symbol,
                "side": order.side,
                "quantity": str(quantity),
                "price": str(order.price),
                "amount": str(amount),
                "order_quantity": str(order.quantity),
                "cumulative_quantity": str(order.filled),
                "leaves_quantity": str(order.quantity - order.filled),
                "order_status": order.status,
                "trade_date": day.isoformat(),
            },
        )

    def cancel(self, coid: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            order = self._orders.get(coid)
            if order is None:
                return 404, {"detail": "No such order."}
            if order.status in ("accepted", "partially_filled"):
                order.status = "cancelled"
                self._enqueue(
                    "order.cancelled",
                    {
                        "client_order_id": coid,
                        "custodian_order_id": order.id,
                        "cumulative_quantity": str(order.filled),
                    },
                )
            return 200, order.as_json()

    def get(self, coid: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            order = self._orders.get(coid)
            return (404, {"detail": "No such order."}) if order is None else (200, order.as_json())

    def _session_open(self) -> bool:
        return not self.options.market_hours or market_is_open()

    def fill_held(self) -> int:
        """Work every open order now (held ones, partial rests, and those taken while the market was
        closed); with `market_hours`, only while the session is open."""
        if not self._session_open():
            return 0
        with self._lock:
            self._adjust_orders_for_splits()
            count = 0
            for order in self._orders.values():
                if order.status in ("accepted", "partially_filled") and self._marketable(order):
                    self._try_fill(order)
                    count += 1
            return count

    def close_day(self) -> int:
        """The day's close: every order still open expires (its unfilled rest is cancelled, with an
        `order.cancelled` event), as a custodian's day orders do. Returns how many expired."""
        with self._lock:
            count = 0
            for order in self._orders.values():
                if order.status in ("accepted", "partially_filled"):
                    self.cancel(order.client_order_id)
                    self.stats.expired_orders += 1
                    count += 1
            self._partial.clear()
            return count

    def order_count(self) -> int:
        with self._lock:
            return len(self._orders)

    # --- webhooks --------------------------------------------------------------------------
    def _enqueue(self, kind: str, data: dict[str, Any]) -> None:
        event = {"id": f"evt_{uuid.uuid4().hex}", "type": kind, "created": datetime.now(UTC).isoformat(), "data": data}
        body = json.dumps(event, separators=(",", ":")).encode()
        with self._lock:
            self._webhooks.append(body)
            if self.options.duplicate_rate and self.rng.random() < self.options.duplicate_rate:
                self._webhooks.append(body)
            self._wake.notify_all()

    def _take_webhooks(self) -> list[bytes]:
        with self._lock:
            batch, self._webhooks = self._webhooks, []
        if self.seed is not None and (self.options.reorder or self.options.defer_rate):
            # Threads queue events in any order: sort them by what they say before the seeded
            # choices, so a seed decides the same way every run.
            batch.sort(key=_event_sort_key)
        if self.options.defer_rate:
            kept: list[bytes] = []
            deferred: list[bytes] = []
            for body in batch:
                (deferred if self.rng.random() < self.options.defer_rate else kept).append(body)
            if deferred:
                self.stats.deferred_webhooks += len(deferred)
                with self._lock:
                    self._webhooks[:0] = deferred
            batch = kept
        if self.options.reorder:
            self.rng.shuffle(batch)
        return batch

    def flush_deferred(self) -> None:
        """Stop holding webhooks back (the end of the day: the custodian retries until delivered)."""
        self.options.defer_rate = 0.0

    def pending_webhook_count(self) -> int:
        with self._lock:
            return len(self._webhooks)

    def headers_for(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", signing.SIGNATURE_HEADER: signing.sign(self.secret, body)}

    def deliver_pending(self, send: Callable[[bytes, dict[str, str]], int]) -> int:
        """Send every queued webhook through `send(body, headers) -> status`; requeue non-2xx.

        Returns the number delivered. Used in "manual" mode by tests and benchmarks.
        """
        delivered = 0
        failed: list[bytes] = []
        for body in self._take_webhooks():
            status = send(body, self.headers_for(body))
            if 200 <= status < 300:
                delivered += 1
                self.stats.webhooks_sent += 1
            else:
                self.stats.webhook_failures += 1
                failed.append(body)
        if failed:
            with self._lock:
                self._webhooks[:0] = failed
        return delivered

    def _dispatch_loop(self) -> None:
        session = requests.Session()
        attempt = 0
        while not self._stop.is_set():
            with self._lock:
                if not self._webhooks:
                    self._wake.wait(timeout=0.2)
                    continue
            if self.options.delay:
                time.sleep(self.options.delay)

            def send(body: bytes, headers: dict[str, str]) -> int:
                assert self.webhook_url
                try:
                    return session.post(self.webhook_url, data=body, headers=headers, timeout=10).status_code
                except requests.RequestException:
                    return 599

            before = self.stats.webhook_failures
            self.deliver_pending(send)
            if self.stats.webhook_failures > before:
                attempt += 1
                self._stop.wait(min(2.0, 0.05 * 2**attempt))
            else:
                attempt = 0

    # --- the HTTP service ------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in background threads; return the base URL (port 0 picks a free port)."""
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        serve = threading.Thread(target=self._server.serve_forever, name="sandbox-custodian", daemon=True)
        serve.start()
        self._threads.append(serve)
        if self.webhook_url:
            dispatcher = threading.Thread(target=self._dispatch_loop, name="sandbox-custodian-webhooks", daemon=True)
            dispatcher.start()
            self._threads.append(dispatcher)
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self, host: str, port: int) -> None:
        self.start(host, port)
        try:
            while not self._stop.is_set():
                self._stop.wait(1)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def _event_sort_key(body: bytes) -> tuple[str, ...]:
    """A webhook's place in a deterministic order: what it is about, not when a thread queued it."""
    try:
        event = json.loads(body)
        data = event.get("data") or {}
    except ValueError:
        return ("", body.decode(errors="replace"))
    return (
        str(data.get("account", "")),
        str(data.get("symbol", "")),
        str(data.get("side", "")),
        str(data.get("order_quantity", "")),
        str(data.get("cumulative_quantity", "")),
        str(event.get("type", "")),
        str(data.get("client_order_id", "")),
        str(event.get("id", "")),
    )


def _handler_for(sandbox: SandboxCustodian) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body for the
        # client's delayed ACK (~40 ms a request on loopback).
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("sandbox custodian: " + format, *args)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            try:
                data = json.loads(self.rfile.read(length))
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}

        def do_GET(self) -> None:
            if sandbox.options.delay:
                time.sleep(sandbox.options.delay)
            url = urlparse(self.path)
            parts = [p for p in url.path.split("/") if p]
            if parts[:2] == ["v1", "orders"] and len(parts) == 3:
                self._json(*sandbox.get(parts[2]))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "statement":
                raw = parse_qs(url.query).get("as_of", [""])[0]
                try:
                    as_of = date.fromisoformat(raw) if raw else sandbox.today()
                except ValueError:
                    self._json(400, {"detail": "as_of must be YYYY-MM-DD."})
                    return
                # With a seed, a read fails like any call (retrying it is harmless).
                key = f"statement|{parts[2]}|{as_of.isoformat()}"
                if sandbox.seed is not None and sandbox._inject_failure(key):
                    self._json(503, {"detail": "The sandbox custodian is unavailable (injected)."})
                    return
                self._json(200, sandbox.statement(parts[2], as_of))
            elif parts == ["v1", "statements"]:
                query = parse_qs(url.query)
                raw = query.get("as_of", [""])[0]
                accounts = [a for a in query.get("accounts", [""])[0].split(",") if a]
                try:
                    as_of = date.fromisoformat(raw) if raw else sandbox.today()
                except ValueError:
                    self._json(400, {"detail": "as_of must be YYYY-MM-DD."})
                    return
                if not accounts or len(accounts) > STATEMENTS_PAGE:
                    self._json(400, {"detail": f"accounts: 1 to {STATEMENTS_PAGE} account numbers, comma-separated."})
                    return
                key = f"statements|{accounts[0]}|{len(accounts)}|{as_of.isoformat()}"
                if sandbox.seed is not None and sandbox._inject_failure(key):
                    self._json(503, {"detail": "The sandbox custodian is unavailable (injected)."})
                    return
                self._json(200, {"as_of": as_of.isoformat(), "results": sandbox.statements(accounts, as_of)})
            elif parts == ["v1", "corporate-actions"]:
                self._json(200, {"results": sandbox.corporate_actions()})
            elif url.path == "/control/stats":
                self._json(200, {**sandbox.stats.__dict__, "pending_webhooks": sandbox.pending_webhook_count()})
            elif url.path == "/health":
                self._json(200, {"status": "ok"})
            else:
                self._json(404, {"detail": "Not found."})

        def do_POST(self) -> None:
            if sandbox.options.delay:
                time.sleep(sandbox.options.delay)
            url = urlparse(self.path)
            parts = [p for p in url.path.split("/") if p]
            body = self._body()
            if parts == ["v1", "orders"]:
                self._json(*sandbox.place(body, self.headers.get("Idempotency-Key", "")))
            elif parts == ["v1", "accounts"]:
                self._json(*sandbox.open_account(body, self.headers.get("Idempotency-Key", "")))
            elif parts[:2] == ["v1", "orders"] and len(parts) == 4 and parts[3] == "cancel":
                self._json(*sandbox.cancel(parts[2]))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "cash":
                try:
                    sandbox.move_cash(parts[2], Decimal(str(body.get("amount"))))
                except (InvalidOperation, TypeError):
                    self._json(400, {"detail": "amount must be a decimal string."})
                    return
                self._json(200, sandbox.statement(parts[2], sandbox.today()))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "positions":
                # One position ({"symbol", "quantity"}), or a whole transfer's ({"positions": [...]}).
                items = body.get("positions") if "positions" in body else [body]
                moves = []
                try:
                    if not isinstance(items, list) or not items:
                        raise InvalidOperation
                    for item in items:
                        quantity = Decimal(str(item.get("quantity")))
                        symbol = str(item.get("symbol") or "").strip()
                        if not symbol or not quantity.is_finite():
                            raise InvalidOperation
                        moves.append((symbol, quantity))
                except (InvalidOperation, TypeError, AttributeError):
                    self._json(400, {"detail": "symbol and a decimal quantity are required."})
                    return
                for symbol, quantity in moves:
                    sandbox.move_position(parts[2], symbol, quantity)
                self._json(200, sandbox.statement(parts[2], sandbox.today()))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "settings":
                self._json(200, sandbox.account_settings(parts[2], body))
            elif parts == ["v1", "corporate-actions"]:
                self._json(*sandbox.corporate_action(body))
            elif parts == ["control"]:
                sandbox.options.update(body)
                self._json(200, dict(sandbox.options.__dict__))
            elif parts == ["control", "fill-held"]:
                self._json(200, {"filled": sandbox.fill_held()})
            elif parts == ["control", "close-day"]:
                self._json(200, {"expired": sandbox.close_day()})
            else:
                self._json(404, {"detail": "Not found."})

    return Handler
