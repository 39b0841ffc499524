"""The sandbox custodian's state: its books, its seeded choices, injected failures and the webhook
queue; the other parts (`corporate_actions`, `orders`, `webhooks`, `server`) build on it."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any

from sandboxes.custodian.records import (
    Options,
    SandboxCorporateAction,
    SandboxOrder,
    Stats,
    _Book,
    business_date,
    market_is_open,
)


class CustodianCore:
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
        self._deferred_once: set[str] = set()  # webhooks already held back once (by what they say)
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

    def move_cash(self, account: str, amount: Decimal) -> None:
        with self._lock:
            self._book(account).moves.append((self.today(), "CASH", amount))

    def move_position(self, account: str, symbol: str, quantity: Decimal) -> None:
        """Shares moved in (or out) from another custodian (an account transfer)."""
        with self._lock:
            self._book(account).moves.append((self.today(), symbol.upper(), quantity))

    def open_books(self, moves: Iterable[tuple[str, date, str, Decimal]]) -> int:
        """The books it already holds when it starts, as a custodian that has kept these accounts
        would: (account, day, asset, change) moves, the asset "CASH" or a symbol. Returns how
        many it took."""
        taken = 0
        with self._lock:
            for account, day, asset, change in moves:
                self._book(account).moves.append((day, asset if asset == "CASH" else asset.upper(), change))
                taken += 1
        return taken

    # --- seeded choices ----------------------------------------------------------------------
    def _draw(self, key: str) -> random.Random:
        """A generator for the n-th choice about `key`: the same for a seed whatever the order
        in which threads ask (the shared `rng` is for the single-threaded delivery rounds)."""
        with self._lock:
            n = self._draws.get(key, 0)
            self._draws[key] = n + 1
        digest = hashlib.sha256(f"{self.seed}|{key}|{n}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311  # nosec B311 -- fault injection

    def _generator(self, key: str) -> random.Random:
        """`_draw(key)` with a seed; the shared `rng` without one."""
        return self._draw(key) if self.seed is not None else self.rng

    def _choice(self, key: str) -> float:
        return self._generator(key).random()

    @staticmethod
    def _order_key(payload: dict[str, Any]) -> str:
        return "|".join(str(payload.get(k) or "") for k in ("account", "symbol", "side", "quantity", "amount"))

    def account_settings(self, account: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            book = self._book(account)
            if "fractional_shares" in data:
                book.fractional_shares = bool(data["fractional_shares"])
            return {"account": account, "fractional_shares": book.fractional_shares}

    def _inject_failure(self, key: str = "") -> str | None:
        """None, or "before" / "after": fail the call without / after doing its work."""
        if not self.options.fail_rate:
            return None
        rng = self._draw(f"fail|{key}") if key else self.rng
        if rng.random() < self.options.fail_rate:
            self.stats.injected_failures += 1
            return "before" if rng.random() < 0.5 else "after"
        return None

    def _enqueue(self, kind: str, data: dict[str, Any]) -> None:
        event = {"id": f"evt_{uuid.uuid4().hex}", "type": kind, "created": datetime.now(UTC).isoformat(), "data": data}
        body = json.dumps(event, separators=(",", ":")).encode()
        with self._lock:
            self._webhooks.append(body)
            if (
                self.options.duplicate_rate
                and self._choice(f"duplicate|{kind}|{_data_key(data)}") < self.options.duplicate_rate
            ):
                self._webhooks.append(body)
            self._wake.notify_all()

    def _session_open(self) -> bool:
        return not self.options.market_hours or market_is_open()


#: What a webhook is about, in its data: the delivery rounds sort by these, the seeded choices key on them.
WEBHOOK_SUBJECT_FIELDS = ("account", "symbol", "side", "order_quantity", "cumulative_quantity")


def _data_key(data: dict[str, Any]) -> str:
    """A webhook's data as a seeded choice's key: what it is about, the same for the same event
    in every run."""
    return "|".join(str(data.get(k, "")) for k in (*WEBHOOK_SUBJECT_FIELDS, "client_order_id", "request_id"))
