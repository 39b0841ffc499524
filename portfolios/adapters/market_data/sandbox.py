"""The market-data sandbox: a local HTTP service in Polygon's response shape.

    GET /v2/aggs/ticker/{SYMBOL}/range/1/day/{from}/{to}
        -> {"ticker": "AAPL", "status": "OK", "resultsCount": n, "results": [{"t": <ms UTC>, "c": 185.64}, ...]}
    GET /v2/aggs/ticker/{SYMBOL}/prev
        -> the same shape with the latest bar

It serves closes from a wide CSV file, or from the database's Price table when no file is
given. `python manage.py run_sandbox_market_data [--port 8101] [--csv FILE]` runs it;
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

RANGE = re.compile(r"^/v2/aggs/ticker/([A-Za-z0-9.\-]+)/range/1/day/(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})$")
PREV = re.compile(r"^/v2/aggs/ticker/([A-Za-z0-9.\-]+)/prev$")

Series = Callable[[str, date | None, date | None], list[tuple[date, Decimal]]]


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)


class CsvMarketData:
    """Closes from a wide CSV file (date, then one column per symbol), held in memory."""

    name = "csv"

    def __init__(self, path: str | Path) -> None:
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


def make_handler(series: Series) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
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


def serve(*, host: str = "127.0.0.1", port: int = 8101, csv_path: str | Path | None = None) -> ThreadingHTTPServer:
    """A started-but-not-serving server; call `serve_forever()` (or run it in a thread)."""
    series: Series = CsvMarketData(csv_path).closes if csv_path else database_series
    return ThreadingHTTPServer((host, port), make_handler(series))


def serve_in_thread(**kwargs: object) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = serve(**kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
