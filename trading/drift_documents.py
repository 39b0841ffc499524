"""A proposal's drift rows: written from a plan's reports, or derived again from the inputs
and trades a proposal keeps. Imports only the pure engine, so the models can use it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from portfolios import engine as rebalancing

HOLDING_COLUMNS = ["symbol", "quantity", "price", "target_weight", "restricted"]


def decimal_text(value: Decimal) -> str:
    return format(value, "f")


# A proposal's drift rows (two reports of 28-digit weights, about 3.7 KB of JSON for 20
# holdings) are most of what it stores. When they follow from its inputs and its trades -- the
# nightly scan's plans: no cash flow, no calendar rebalance, cents, every trade in a holding --
# the proposal keeps only those (its inputs say `"drift": "derived"`, its drift fields stay
# empty) and `derived_drift` makes the same rows again when it is read. Plans whose rows
# do not follow from them (a cash flow, a calendar rebalance, a harvest or a household plan)
# keep their rows.
DRIFT_DERIVED = "derived"


def join_inputs(account_part: dict[str, Any], prices: dict[str, Any]) -> dict[str, Any]:
    """An inputs document from the two parts the nightly scan stores once and references
    (`ProposalDocument`): the account's part -- the document without its day, each holding's
    price left null -- and the night's prices, by symbol, with the day."""
    columns = account_part.get("holding_columns") or HOLDING_COLUMNS
    at = columns.index("price")
    by_symbol = prices["prices"]
    holdings = []
    for values in account_part.get("holdings") or []:
        row = list(values)
        row[at] = by_symbol[row[0]]
        holdings.append(row)
    return {
        "v": account_part.get("v"),
        "as_of": prices["as_of"],
        **{k: v for k, v in account_part.items() if k not in ("v", "holdings")},
        "holdings": holdings,
    }


def snapshot_from_inputs(inputs: dict[str, Any]) -> rebalancing.AccountSnapshot:
    """The snapshot an inputs document describes, as far as drift needs it (no lots)."""
    settings = inputs.get("settings") or {}
    columns = inputs.get("holding_columns") or HOLDING_COLUMNS
    holdings = []
    for values in inputs.get("holdings") or []:
        row = dict(zip(columns, values, strict=False))
        holdings.append(
            rebalancing.Holding(
                row["symbol"],
                Decimal(row["quantity"]),
                Decimal(row["price"]),
                Decimal(row["target_weight"]),
                band_share=Decimal(row.get("band_share", "1")),
            )
        )
    return rebalancing.AccountSnapshot(
        account_id=0,
        as_of=date.fromisoformat(inputs["as_of"]),
        currency=inputs.get("currency", ""),
        cash=Decimal(inputs["cash"]),
        holdings=tuple(holdings),
        cash_target=Decimal(inputs.get("cash_target", "0")),
        threshold=Decimal(settings["threshold"]),
        band_mode=rebalancing.BandMode(settings["band_mode"]),
        relative_band=Decimal(settings["relative_band"]),
        commission_per_trade=Decimal(settings.get("commission_per_trade", "0")),
    )


def derived_drift(inputs: dict[str, Any], trades: Iterable[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The drift rows, before and after, of a proposal that keeps only its inputs and its
    trades (objects with symbol, side, quantity and estimated_amount, in order)."""
    snapshot = snapshot_from_inputs(inputs)
    after = rebalancing.drift_after_trades(
        snapshot, [(t.symbol, str(t.side), t.quantity, t.estimated_amount) for t in trades]
    )
    return drift_rows(rebalancing.calculate_drift(snapshot)), drift_rows(after)


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
