"""The documents a proposal keeps: its inputs snapshot and drift rows, as dicts (the ORM path)
or written straight as JSON text (the COPY path of the nightly scan)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from portfolios import engine as rebalancing
from trading.drift_documents import DRIFT_DERIVED, HOLDING_COLUMNS, decimal_text, drift_rows

INPUTS_VERSION = 1


__all__ = [
    "DRIFT_DERIVED",
    "HOLDING_COLUMNS",
    "INPUTS_VERSION",
    "JsonText",
    "decimal_text",
    "drift_derivable",
    "drift_rows",
    "inputs_document",
]


def inputs_document(
    snapshot: rebalancing.AccountSnapshot, reserved: Decimal, *, derived: bool = False
) -> dict[str, Any]:
    """The compact inputs snapshot a proposal keeps: enough to reproduce and audit it (cash,
    cash held back by open buys, each holding's symbol, quantity, price and target, and the
    account's settings) — not every tax lot. Decimals as strings; built by hand (no
    `dataclasses.asdict`, whose deep copy of every lot was most of the old write cost)."""
    document: dict[str, Any] = {
        "v": INPUTS_VERSION,
        "as_of": snapshot.as_of.isoformat(),
        "currency": snapshot.currency,
        "cash": decimal_text(snapshot.cash),
        "reserved_for_open_buys": decimal_text(reserved),
        "cash_target": decimal_text(snapshot.cash_target),
        "settings": {
            "threshold": decimal_text(snapshot.threshold),
            "band_mode": str(snapshot.band_mode),
            "relative_band": decimal_text(snapshot.relative_band),
            "cash_reserve": decimal_text(snapshot.cash_reserve),
            "min_trade_amount": decimal_text(snapshot.min_trade_amount),
            "fractional_shares": snapshot.fractional_shares,
            "commission_per_trade": decimal_text(snapshot.commission_per_trade),
            "external_flow": decimal_text(snapshot.external_flow),
        },
        "holding_columns": HOLDING_COLUMNS,
        "holdings": [
            [h.symbol, decimal_text(h.quantity), decimal_text(h.price), decimal_text(h.target_weight), h.restricted]
            for h in snapshot.holdings
        ],
    }
    if _shares_a_sleeve(snapshot):  # the bands a harvest substitute's shared sleeve gives its rows
        document["holding_columns"] = [*HOLDING_COLUMNS, "band_share"]
        for row, h in zip(document["holdings"], snapshot.holdings, strict=True):
            row.append(decimal_text(h.band_share))
    if derived:
        document["drift"] = DRIFT_DERIVED
    return document


def _symbol(holding: rebalancing.Holding) -> str:
    return holding.symbol


def _shares_a_sleeve(snapshot: rebalancing.AccountSnapshot) -> bool:
    return any(h.band_share != 1 for h in snapshot.holdings)


def drift_derivable(snapshot: rebalancing.AccountSnapshot, plan: Any) -> bool:
    """True when `derived_drift` of this plan's inputs and trades gives its drift rows: its
    `drift_before` is the snapshot's drift (no calendar rebalance), its `drift_after` is
    `drift_after_trades` of its trades (no cash flow, every trade in one of the holdings), and
    its amounts are in cents, as its trades store them."""
    if plan.drift_after is None or snapshot.external_flow or snapshot.money_places != 2:
        return False
    if rebalancing.calendar_due(snapshot.schedule, snapshot.as_of):
        return False
    held = {h.symbol for h in snapshot.holdings}
    return all(t.symbol in held for t in plan.trades)


class JsonText:
    """`inputs_document` and `drift_rows` written straight as JSON text for the COPY path (the nightly
    scan writes a hundred thousand of each): the same documents, without building the dicts
    and lists and then encoding them (about a third of the time). Decimals as `decimal_text` writes
    them; strings (symbols, codes) JSON-quoted once per chunk."""

    HOLDINGS_HEADER = json.dumps(HOLDING_COLUMNS)
    SHARED_HOLDINGS_HEADER = json.dumps([*HOLDING_COLUMNS, "band_share"])
    DRIFT_ROW = (
        '{"symbol": %s, "target_weight": "%s", "actual_weight": "%s", "drift": "%s", "band": "%s", "breached": %s}'
    )

    def __init__(self) -> None:
        self.quoted: dict[str, str] = {}

    def q(self, value: str) -> str:
        out = self.quoted.get(value)
        if out is None:
            out = self.quoted[value] = json.dumps(value)
        return out

    @staticmethod
    def d(value: Decimal) -> str:
        out = str(value)  # format(value, "f") unless str() chose an exponent
        return out if "E" not in out else format(value, "f")

    def drift(self, report: rebalancing.DriftReport | None) -> str:
        if report is None:
            return "[]"
        q, d, row = self.q, self.d, self.DRIFT_ROW
        return (
            "["
            + ", ".join(
                [
                    row
                    % (
                        q(r.symbol),
                        d(r.target_weight),
                        d(r.actual_weight),
                        d(r.drift),
                        d(r.band),
                        "true" if r.breached else "false",
                    )
                    for r in report.rows
                ]
            )
            + "]"
        )

    def inputs(self, snapshot: rebalancing.AccountSnapshot, reserved: Decimal, *, derived: bool = False) -> str:
        """`inputs_document` as JSON text."""
        return self._inputs(snapshot, reserved, derived=derived, whole=True)

    def account_part(self, snapshot: rebalancing.AccountSnapshot, reserved: Decimal, *, derived: bool = False) -> str:
        """The inputs without the day and the prices (each holding's price null): what stays the
        same from night to night until the account trades (`drift_documents.join_inputs`)."""
        return self._inputs(snapshot, reserved, derived=derived, whole=False)

    def prices(self, as_of: date, holdings: Iterable[rebalancing.Holding]) -> str:
        """The day and the holdings' prices, by symbol in symbol order: the other part of inputs
        (of every account whose holdings it prices)."""
        q, d = self.q, self.d
        by_symbol = ", ".join(f'{q(h.symbol)}: "{d(h.price)}"' for h in sorted(holdings, key=_symbol))
        return f'{{"as_of": "{as_of.isoformat()}", "prices": {{{by_symbol}}}}}'

    def _inputs(self, snapshot: rebalancing.AccountSnapshot, reserved: Decimal, *, derived: bool, whole: bool) -> str:
        q, d = self.q, self.d
        shared = _shares_a_sleeve(snapshot)
        holdings = ", ".join(
            [
                f'[{q(h.symbol)}, "{d(h.quantity)}", '
                + (f'"{d(h.price)}"' if whole else "null")
                + f', "{d(h.target_weight)}", {"true" if h.restricted else "false"}'
                + (f', "{d(h.band_share)}"]' if shared else "]")
                for h in snapshot.holdings
            ]
        )
        header = self.SHARED_HOLDINGS_HEADER if shared else self.HOLDINGS_HEADER
        day = f'"as_of": "{snapshot.as_of.isoformat()}", ' if whole else ""
        return (
            f'{{"v": {INPUTS_VERSION}, {day}"currency": {q(snapshot.currency)}, '
            f'"cash": "{d(snapshot.cash)}", "reserved_for_open_buys": "{d(reserved)}", '
            f'"cash_target": "{d(snapshot.cash_target)}", "settings": {{"threshold": "{d(snapshot.threshold)}", '
            f'"band_mode": {q(str(snapshot.band_mode))}, "relative_band": "{d(snapshot.relative_band)}", '
            f'"cash_reserve": "{d(snapshot.cash_reserve)}", "min_trade_amount": "{d(snapshot.min_trade_amount)}", '
            f'"fractional_shares": {"true" if snapshot.fractional_shares else "false"}, '
            f'"commission_per_trade": "{d(snapshot.commission_per_trade)}", '
            f'"external_flow": "{d(snapshot.external_flow)}"}}, '
            f'"holding_columns": {header}, "holdings": [{holdings}]'
            + (f', "drift": "{DRIFT_DERIVED}"}}' if derived else "}")
        )

    def slim_inputs(self, snapshot: rebalancing.AccountSnapshot) -> str:
        return (
            f'{{"v": {INPUTS_VERSION}, "threshold": "{self.d(snapshot.threshold)}", '
            f'"band_mode": {self.q(str(snapshot.band_mode))}}}'
        )

    @staticmethod
    def strings(values: Sequence[str]) -> str:
        return json.dumps(list(values))
