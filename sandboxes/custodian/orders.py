"""The sandbox custodian's account openings and orders: placed once per client order id, filled at
the order's price (or the latest it can look up), in parts, held, rejected or failed as told."""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from sandboxes.custodian.corporate_actions import CorporateActions
from sandboxes.custodian.records import MAX_QUANTITY, QUANTITY_PLACES, SandboxOrder, execution_amount


class Orders(CorporateActions):
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
                if "fractional_shares" in payload:  # told at the opening, as by the settings call
                    self._book(number).fractional_shares = bool(payload["fractional_shares"])
                self._enqueue("account.opened", {"request_id": request_id, "account_number": number})
        if failure == "after":
            return 503, {"detail": "The sandbox custodian lost the answer (injected)."}
        return 202, {"request_id": request_id, "status": "pending", "account_number": "", "message": ""}

    # --- orders ----------------------------------------------------------------------------
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
            choice = self._generator(f"order|{self._order_key(payload)}")
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
