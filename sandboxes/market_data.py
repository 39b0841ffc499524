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
`python manage.py run_sandbox_market_data [--port 8101] [--csv FILE]` runs it (the CSV is read by
the "csv" adapter, `portfolios.adapters.market_data.csv_file`);
tests start `serve()` in a thread on a free port.
"""

from __future__ import annotations

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

from portfolios.adapters.market_data.base import MarketDataError
from portfolios.adapters.market_data.csv_file import CorporateActionStore, CsvMarketData, load_corporate_actions
from portfolios.models import Price

RANGE = re.compile(r"^/v2/aggs/ticker/([A-Za-z0-9.\-]+)/range/1/day/(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})$")
PREV = re.compile(r"^/v2/aggs/ticker/([A-Za-z0-9.\-]+)/prev$")

Series = Callable[[str, date | None, date | None], list[tuple[date, Decimal]]]


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)


def database_series(symbol: str, start: date | None, end: date | None) -> list[tuple[date, Decimal]]:
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
