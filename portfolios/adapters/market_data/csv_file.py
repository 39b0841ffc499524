"""The "csv" market-data adapter: closes from a wide CSV file and, optionally, corporate actions
from a JSON file of Polygon-shaped dividends and splits (`{"dividends": [...], "splits": [...]}`).

`CorporateActionStore` holds Polygon-shaped dividend and split rows by id; the CSV adapter reads
its events from one, and the market-data sandbox (`sandboxes.market_data`) serves one over HTTP.
"""

from __future__ import annotations

import bisect
import csv
import json
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from portfolios.adapters.market_data.base import CorporateActionEvent, MarketDataError
from portfolios.adapters.market_data.http import parse_dividend, parse_split


class CorporateActionStore:
    """Corporate actions as Polygon-shaped dividend and split rows, by id (the csv adapter reads
    them; the market-data sandbox serves them)."""

    KINDS = {"dividends": "ex_dividend_date", "splits": "execution_date"}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, dict[str, Any]]] = {"dividends": {}, "splits": {}}

    def add(self, kind: str, row: Any) -> dict[str, Any]:
        """Validate one row (as the HTTP client would read it) and store it; returns it."""
        if kind not in self.KINDS:
            raise MarketDataError(f"Unknown kind of corporate action: {kind}.")
        if not isinstance(row, dict):
            raise MarketDataError("Each event must be a JSON object.")
        row = dict(row)
        row["ticker"] = str(row.get("ticker") or "").upper()
        if not row["ticker"]:
            raise MarketDataError("An event needs a ticker.")
        event = parse_dividend(row) if kind == "dividends" else parse_split(row)
        if kind == "dividends" and (event.amount_per_share is None or event.amount_per_share <= 0):
            raise MarketDataError("A dividend needs a positive cash_amount.")
        row.setdefault("id", event.external_id)
        with self._lock:
            self._rows[kind][str(row["id"])] = row
        return row

    def load(self, data: dict[str, Any]) -> int:
        count = 0
        for kind in self.KINDS:
            for row in data.get(kind) or []:
                self.add(kind, row)
                count += 1
        return count

    def query(self, kind: str, params: dict[str, str]) -> list[dict[str, Any]]:
        key = self.KINDS[kind]
        ticker = params.get("ticker", "").upper()
        bounds = {op: params.get(f"{key}.{op}") for op in ("gte", "gt", "lte", "lt")}
        exact = params.get(key)
        with self._lock:
            rows = list(self._rows[kind].values())
        out = []
        for row in rows:
            day = str(row.get(key) or "")
            if ticker and row["ticker"] != ticker:
                continue
            if exact and day != exact:
                continue
            if bounds["gte"] and day < bounds["gte"]:
                continue
            if bounds["gt"] and day <= bounds["gt"]:
                continue
            if bounds["lte"] and day > bounds["lte"]:
                continue
            if bounds["lt"] and day >= bounds["lt"]:
                continue
            out.append(row)
        out.sort(key=lambda r: (str(r.get(key)), r["ticker"], str(r["id"])), reverse=params.get("order") == "desc")
        return out

    def events(self, symbols: list[str], start: date, end: date) -> list[CorporateActionEvent]:
        wanted = {s.upper() for s in symbols}
        window = {"gte": start.isoformat(), "lte": end.isoformat()}
        found = [
            parse_dividend(r)
            for r in self.query("dividends", {f"ex_dividend_date.{k}": v for k, v in window.items()})
            if r["ticker"] in wanted
        ]
        found += [
            parse_split(r)
            for r in self.query("splits", {f"execution_date.{k}": v for k, v in window.items()})
            if r["ticker"] in wanted
        ]
        return found


def load_corporate_actions(path: str | Path | None, store: CorporateActionStore | None = None) -> CorporateActionStore:
    store = store or CorporateActionStore()
    if path:
        store.load(json.loads(Path(path).read_text(), parse_float=Decimal))
    return store


class CsvMarketData:
    """Closes from a wide CSV file (date, then one column per symbol), held in memory."""

    name = "csv"

    def __init__(self, path: str | Path, *, corporate_actions_path: str | Path | None = None) -> None:
        self.actions = load_corporate_actions(corporate_actions_path)
        self.series: dict[str, list[tuple[date, Decimal]]] = {}
        with Path(path).open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            symbols = [h.strip().upper() for h in header[1:]]
            for line in reader:
                day = date.fromisoformat(line[0])
                for symbol, value in zip(symbols, line[1:], strict=False):
                    if value.strip():
                        self.series.setdefault(symbol, []).append((day, Decimal(value)))
        for rows in self.series.values():
            rows.sort()

    def closes(self, symbol: str, start: date | None, end: date | None) -> list[tuple[date, Decimal]]:
        rows = self.series.get(symbol.upper(), [])
        days = [d for d, _ in rows]
        lo = bisect.bisect_left(days, start) if start else 0
        hi = bisect.bisect_right(days, end) if end else len(rows)
        return rows[lo:hi]

    def daily_closes(self, symbols: list[str], start: date, end: date) -> dict[str, list[tuple[date, Decimal]]]:
        return {s.upper(): self.closes(s, start, end) for s in symbols}

    def latest_close(self, symbol: str) -> tuple[date, Decimal] | None:
        rows = self.series.get(symbol.upper())
        return rows[-1] if rows else None

    def corporate_actions(self, symbols: list[str], start: date, end: date) -> list[CorporateActionEvent]:
        return self.actions.events(symbols, start, end)
