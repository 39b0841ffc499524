"""The sandbox custodian's statements and corporate actions: a split's ex-date multiplies what each
account held at the close before (cash in lieu for the fraction) and adjusts open orders; a cash
dividend pays on its pay date; a statement as of a day applies them in date order."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sandboxes.custodian.core import CustodianCore
from sandboxes.custodian.records import CENTS, QUANTITY_PLACES, SandboxCorporateAction, _Book
from trading.adapters.custodian.interface import split_adjusted_leaves, split_adjusted_limit_price


class CorporateActions(CustodianCore):
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
