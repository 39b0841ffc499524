"""The market-data sandbox: a local HTTP service in Polygon's response shape.

    GET /v2/aggs/ticker/{SYMBOL}/range/1/day/{from}/{to}
        -> {"ticker": "AAPL", "status": "OK", "resultsCount": n, "results": [{"t": <ms UTC>, "c": 185.64}, ...]}
    GET /v2/aggs/ticker/{SYMBOL}/prev
        -> the same shape with the latest bar
    GET /v3/reference/dividends?ticker=&ex_dividend_date.gte=&ex_dividend_date.lte=&limit=
        -> {"status": "OK", "results": [{"id", "ticker", "cash_amount", "currency", "ex_dividend_date",
            "record_date", "pay_date", "declaration_date", "dividend_type", "frequency"}], "next_url"?}
    GET /v3/reference/splits?ticker=&execution_date.gte=&execution_date.lte=&limit=
        -> {"status": "OK", "results": [{"id", "ticker", "execution_date", "split_from", "split_to"}]}
    POST /v3/reference/dividends, POST /v3/reference/splits     (the sandbox's own, not Polygon's)
        register events: one result object, or {"results": [...]}; the same `id` replaces the
        event. A split may carry "cash_in_lieu_price" (the price fractions are paid at). 201, or
        400 naming what is wrong.

It serves closes from a wide CSV file, or from the database's Price table when no file is
given, and corporate actions from what was registered (or a JSON file,
`{"dividends": [...], "splits": [...]}`, given as `--corporate-actions FILE`).
`python manage.py run_sandbox_market_data [--port 8101] [--csv FILE]` runs it;
tests start `serve()` in a thread on a free port.
"""

from __future__ import annotations

import bisect
import csv
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from portfolios.adapters.market_data.interface import CorporateActionEvent, MarketDataError

RANGE = re.compile(r"^/v2/aggs/ticker/([A-Za-z0-9.\-]+)/range/1/day/(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})$")
PREV = re.compile(r"^/v2/aggs/ticker/([A-Za-z0-9.\-]+)/prev$")

Series = Callable[[str, date | None, date | None], list[tuple[date, Decimal]]]


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)


class CorporateActionStore:
    """The sandbox's corporate actions: Polygon-shaped dividend and split rows, by id."""

    KINDS = {"dividends": "ex_dividend_date", "splits": "execution_date"}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, dict[str, Any]]] = {"dividends": {}, "splits": {}}

    def add(self, kind: str, row: Any) -> dict[str, Any]:
        """Validate one row (as the HTTP client would read it) and store it; returns it."""
        from portfolios.adapters.market_data.client import parse_dividend, parse_split

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
        from portfolios.adapters.market_data.client import parse_dividend, parse_split

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


def database_series(symbol: str, start: date | None, end: date | None) -> list[tuple[date, Decimal]]:
    from portfolios.models import Price

    qs = Price.objects.filter(security__symbol=symbol.upper())
    if start:
        qs = qs.filter(date__gte=start)
    if end:
        qs = qs.filter(date__lte=end)
    return list(qs.order_by("date").values_list("date", "close"))


def _body(symbol: str, rows: list[tuple[date, Decimal]]) -> bytes:
    # Written by hand so closes go out as exact JSON numbers, never through a float.
    bars = ",".join(f'{{"t":{_ms(d)},"c":{c}}}' for d, c in rows)
    return (
        f'{{"ticker":{json.dumps(symbol)},"status":"OK","adjusted":true,'
        f'"queryCount":{len(rows)},"resultsCount":{len(rows)},"results":[{bars}]}}'
    ).encode()


_DECIMAL = re.compile(r'"__decimal__(-?[0-9.Ee+-]+)"')


def _json(body: dict[str, Any]) -> bytes:
    # Decimals go out as exact JSON numbers (as Polygon sends them), never through a float.
    text = json.dumps(body, default=lambda v: f"__decimal__{v}" if isinstance(v, Decimal) else str(v))
    return _DECIMAL.sub(r"\1", text).encode()


REFERENCE = re.compile(r"^/v3/reference/(dividends|splits)$")
PAGE_LIMIT = 1000


def make_handler(series: Series, actions: CorporateActionStore | None = None) -> type[BaseHTTPRequestHandler]:
    store = actions if actions is not None else CorporateActionStore()

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body in two writes: no ~40 ms delayed-ACK wait

        def _reference(self, kind: str, query: str) -> None:
            params = {k: v[-1] for k, v in parse_qs(query).items()}
            try:
                limit = max(1, min(PAGE_LIMIT, int(params.get("limit") or PAGE_LIMIT)))
                offset = max(0, int(params.get("cursor") or 0))
                rows = store.query(kind, params)
            except ValueError:
                return self._send(400, b'{"status":"ERROR","error":"bad limit or cursor"}')
            page = rows[offset : offset + limit]
            body: dict[str, Any] = {"status": "OK", "request_id": f"sbx-{kind}-{offset}", "results": page}
            if offset + limit < len(rows):
                host = self.headers.get("Host") or "127.0.0.1"
                body["next_url"] = (
                    f"http://{host}/v3/reference/{kind}?{urlencode({**params, 'cursor': str(offset + limit)})}"
                )
            return self._send(200, _json(body))

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            m = REFERENCE.match(path)
            if not m:
                return self._send(404, b'{"status":"NOT_FOUND"}')
            length = int(self.headers.get("Content-Length") or 0)
            try:
                data = json.loads(self.rfile.read(length) or b"null", parse_float=Decimal)
                rows = data.get("results") if isinstance(data, dict) and "results" in data else [data]
                if not isinstance(rows, list):
                    raise MarketDataError("results must be a list.")
                stored = [store.add(m.group(1), row) for row in rows]
            except ValueError:
                return self._send(400, b'{"status":"ERROR","error":"the body is not JSON"}')
            except MarketDataError as exc:
                return self._send(400, _json({"status": "ERROR", "error": exc.message}))
            return self._send(201, _json({"status": "OK", "count": len(stored), "results": stored}))

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if m := REFERENCE.match(path):
                return self._reference(m.group(1), query)
            try:
                if m := RANGE.match(path):
                    symbol = m.group(1).upper()
                    start, end = date.fromisoformat(m.group(2)), date.fromisoformat(m.group(3))
                    return self._send(200, _body(symbol, series(symbol, start, end)))
                if m := PREV.match(path):
                    symbol = m.group(1).upper()
                    rows = series(symbol, None, None)
                    return self._send(200, _body(symbol, rows[-1:]))
            except ValueError:
                return self._send(400, b'{"status":"ERROR","error":"bad date"}')
            return self._send(404, b'{"status":"NOT_FOUND"}')

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    return Handler


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8101,
    csv_path: str | Path | None = None,
    corporate_actions_path: str | Path | None = None,
    actions: CorporateActionStore | None = None,
) -> ThreadingHTTPServer:
    """A started-but-not-serving server; call `serve_forever()` (or run it in a thread). Its
    corporate-action store is `server.actions` (a test or the simulator may add to it directly)."""
    series: Series = CsvMarketData(csv_path).closes if csv_path else database_series
    store = load_corporate_actions(corporate_actions_path, actions)
    server = ThreadingHTTPServer((host, port), make_handler(series, store))
    server.actions = store  # type: ignore[attr-defined]
    return server


def serve_in_thread(**kwargs: object) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = serve(**kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
