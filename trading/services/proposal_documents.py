"""The documents a proposal keeps: its inputs snapshot and drift rows, as dicts (the ORM path)
or written straight as JSON text (the COPY path of the nightly scan)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from portfolios import engine as rebalancing

INPUTS_VERSION = 1
HOLDING_COLUMNS = ["symbol", "quantity", "price", "target_weight", "restricted"]


def decimal_text(value: Decimal) -> str:
    return format(value, "f")


def inputs_document(snapshot: rebalancing.AccountSnapshot, reserved: Decimal) -> dict[str, Any]:
    """The compact inputs snapshot a proposal keeps: enough to reproduce and audit it (cash,
    cash held back by open buys, each holding's symbol, quantity, price and target, and the
    account's settings) — not every tax lot. Decimals as strings; built by hand (no
    `dataclasses.asdict`, whose deep copy of every lot was most of the old write cost)."""
    return {
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


def drift_rows(report: rebalancing.DriftReport | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    return [
        {
            "symbol": r.symbol,
            "target_weight": decimal_text(r.target_weight),
            "actual_weight": decimal_text(r.actual_weight),
            "drift": decimal_text(r.drift),
            "band": decimal_text(r.band),
            "breached": r.breached,
        }
        for r in report.rows
    ]


class JsonText:
    """`inputs_document` and `drift_rows` written straight as JSON text for the COPY path (the nightly
    scan writes a hundred thousand of each): the same documents, without building the dicts
    and lists and then encoding them (about a third of the time). Decimals as `decimal_text` writes
    them; strings (symbols, codes) JSON-quoted once per chunk."""

    HOLDINGS_HEADER = json.dumps(HOLDING_COLUMNS)
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

    def inputs(self, snapshot: rebalancing.AccountSnapshot, reserved: Decimal) -> str:
        q, d = self.q, self.d
        holdings = ", ".join(
            [
                f'[{q(h.symbol)}, "{d(h.quantity)}", "{d(h.price)}", "{d(h.target_weight)}", '
                f"{'true' if h.restricted else 'false'}]"
                for h in snapshot.holdings
            ]
        )
        return (
            f'{{"v": {INPUTS_VERSION}, "as_of": "{snapshot.as_of.isoformat()}", "currency": {q(snapshot.currency)}, '
            f'"cash": "{d(snapshot.cash)}", "reserved_for_open_buys": "{d(reserved)}", '
            f'"cash_target": "{d(snapshot.cash_target)}", "settings": {{"threshold": "{d(snapshot.threshold)}", '
            f'"band_mode": {q(str(snapshot.band_mode))}, "relative_band": "{d(snapshot.relative_band)}", '
            f'"cash_reserve": "{d(snapshot.cash_reserve)}", "min_trade_amount": "{d(snapshot.min_trade_amount)}", '
            f'"fractional_shares": {"true" if snapshot.fractional_shares else "false"}, '
            f'"commission_per_trade": "{d(snapshot.commission_per_trade)}", '
            f'"external_flow": "{d(snapshot.external_flow)}"}}, '
            f'"holding_columns": {self.HOLDINGS_HEADER}, "holdings": [{holdings}]}}'
        )

    def slim_inputs(self, snapshot: rebalancing.AccountSnapshot) -> str:
        return (
            f'{{"v": {INPUTS_VERSION}, "threshold": "{self.d(snapshot.threshold)}", '
            f'"band_mode": {self.q(str(snapshot.band_mode))}}}'
        )

    @staticmethod
    def strings(values: Sequence[str]) -> str:
        return json.dumps(list(values))
