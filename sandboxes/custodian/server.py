"""The sandbox custodian as an HTTP service: `SandboxCustodian` (every part together) and its
request handler (the endpoints listed in `sandboxes.custodian`)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from sandboxes.custodian.orders import Orders
from sandboxes.custodian.records import STATEMENTS_PAGE
from sandboxes.custodian.webhooks import WebhookDelivery

logger = logging.getLogger(__name__)


class SandboxCustodian(Orders, WebhookDelivery):
    """The sandbox custodian: its books, corporate actions, orders and webhooks, served over HTTP."""

    # --- the HTTP service ------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in background threads; return the base URL (port 0 picks a free port)."""
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        serve = threading.Thread(target=self._server.serve_forever, name="sandbox-custodian", daemon=True)
        serve.start()
        self._threads.append(serve)
        if self.webhook_url:
            dispatcher = threading.Thread(target=self._dispatch_loop, name="sandbox-custodian-webhooks", daemon=True)
            dispatcher.start()
            self._threads.append(dispatcher)
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self, host: str, port: int) -> None:
        self.start(host, port)
        try:
            while not self._stop.is_set():
                self._stop.wait(1)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._wake.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def _handler_for(sandbox: SandboxCustodian) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body for the
        # client's delayed ACK (~40 ms a request on loopback).
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("sandbox custodian: " + format, *args)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            try:
                data = json.loads(self.rfile.read(length))
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}

        def do_GET(self) -> None:
            if sandbox.options.delay:
                time.sleep(sandbox.options.delay)
            url = urlparse(self.path)
            parts = [p for p in url.path.split("/") if p]
            if parts[:2] == ["v1", "orders"] and len(parts) == 3:
                self._json(*sandbox.get(parts[2]))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "statement":
                raw = parse_qs(url.query).get("as_of", [""])[0]
                try:
                    as_of = date.fromisoformat(raw) if raw else sandbox.today()
                except ValueError:
                    self._json(400, {"detail": "as_of must be YYYY-MM-DD."})
                    return
                # With a seed, a read fails like any call (retrying it is harmless).
                key = f"statement|{parts[2]}|{as_of.isoformat()}"
                if sandbox.seed is not None and sandbox._inject_failure(key):
                    self._json(503, {"detail": "The sandbox custodian is unavailable (injected)."})
                    return
                self._json(200, sandbox.statement(parts[2], as_of))
            elif parts == ["v1", "statements"]:
                query = parse_qs(url.query)
                raw = query.get("as_of", [""])[0]
                accounts = [a for a in query.get("accounts", [""])[0].split(",") if a]
                try:
                    as_of = date.fromisoformat(raw) if raw else sandbox.today()
                except ValueError:
                    self._json(400, {"detail": "as_of must be YYYY-MM-DD."})
                    return
                if not accounts or len(accounts) > STATEMENTS_PAGE:
                    self._json(400, {"detail": f"accounts: 1 to {STATEMENTS_PAGE} account numbers, comma-separated."})
                    return
                key = f"statements|{accounts[0]}|{len(accounts)}|{as_of.isoformat()}"
                if sandbox.seed is not None and sandbox._inject_failure(key):
                    self._json(503, {"detail": "The sandbox custodian is unavailable (injected)."})
                    return
                self._json(200, {"as_of": as_of.isoformat(), "results": sandbox.statements(accounts, as_of)})
            elif parts == ["v1", "corporate-actions"]:
                self._json(200, {"results": sandbox.corporate_actions()})
            elif url.path == "/control/stats":
                self._json(200, {**sandbox.stats.__dict__, "pending_webhooks": sandbox.pending_webhook_count()})
            elif url.path == "/health":
                self._json(200, {"status": "ok"})
            else:
                self._json(404, {"detail": "Not found."})

        def do_POST(self) -> None:
            if sandbox.options.delay:
                time.sleep(sandbox.options.delay)
            url = urlparse(self.path)
            parts = [p for p in url.path.split("/") if p]
            body = self._body()
            if parts == ["v1", "orders"]:
                self._json(*sandbox.place(body, self.headers.get("Idempotency-Key", "")))
            elif parts == ["v1", "accounts"]:
                self._json(*sandbox.open_account(body, self.headers.get("Idempotency-Key", "")))
            elif parts[:2] == ["v1", "orders"] and len(parts) == 4 and parts[3] == "cancel":
                self._json(*sandbox.cancel(parts[2]))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "cash":
                try:
                    sandbox.move_cash(parts[2], Decimal(str(body.get("amount"))))
                except (InvalidOperation, TypeError):
                    self._json(400, {"detail": "amount must be a decimal string."})
                    return
                self._json(200, sandbox.statement(parts[2], sandbox.today()))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "positions":
                # One position ({"symbol", "quantity"}), or a whole transfer's ({"positions": [...]}).
                items = body.get("positions") if "positions" in body else [body]
                moves = []
                try:
                    if not isinstance(items, list) or not items:
                        raise InvalidOperation
                    for item in items:
                        quantity = Decimal(str(item.get("quantity")))
                        symbol = str(item.get("symbol") or "").strip()
                        if not symbol or not quantity.is_finite():
                            raise InvalidOperation
                        moves.append((symbol, quantity))
                except (InvalidOperation, TypeError, AttributeError):
                    self._json(400, {"detail": "symbol and a decimal quantity are required."})
                    return
                for symbol, quantity in moves:
                    sandbox.move_position(parts[2], symbol, quantity)
                self._json(200, sandbox.statement(parts[2], sandbox.today()))
            elif parts[:2] == ["v1", "accounts"] and len(parts) == 4 and parts[3] == "settings":
                self._json(200, sandbox.account_settings(parts[2], body))
            elif parts == ["v1", "corporate-actions"]:
                self._json(*sandbox.corporate_action(body))
            elif parts == ["control"]:
                sandbox.options.update(body)
                self._json(200, dict(sandbox.options.__dict__))
            elif parts == ["control", "fill-held"]:
                self._json(200, {"filled": sandbox.fill_held()})
            elif parts == ["control", "close-day"]:
                self._json(200, {"expired": sandbox.close_day()})
            else:
                self._json(404, {"detail": "Not found."})

    return Handler
