"""The sandbox bank: a local HTTP service with Plaid Transfer's shapes and deterministic outcomes.

    POST /accounts/link               {"owner", "institution"} -> {"account_id", "mask", "institution"}
    POST /transfer/create             {"idempotency_key", "account_id", "type", "amount", "description"}
    POST /transfer/get                {"transfer_id"}
    POST /sandbox/transfer/simulate   {"transfer_id", "event_type": "posted"|"settled"|"failed"|"returned"}
    POST /control                     {"auto_settle": true, "fail_rate": 0.0}

Outcomes are deterministic: an amount whose cents are .13 fails ("insufficient funds"),
everything else settles at once when `auto_settle` is on (the default) or waits for a
simulate call. The same idempotency key returns the same transfer.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SandboxBank:
    def __init__(self, *, auto_settle: bool = True, fail_rate: float = 0.0, seed: int | None = None):
        self.auto_settle = auto_settle
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)  # noqa: S311 -- fault injection  # nosec B311 -- not for security: deterministic demo data or retry jitter
        self._lock = threading.Lock()
        self._links: dict[str, dict[str, str]] = {}
        self._transfers: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def link(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        owner = str(body.get("owner") or "").strip()
        if not owner:
            return 400, {"error_message": "owner is required."}
        with self._lock:
            account_id = f"bank_{uuid.uuid4().hex[:12]}"
            link = {
                "account_id": account_id,
                "mask": account_id[-4:],
                "institution": str(body.get("institution") or "Sandbox Bank"),
            }
            self._links[account_id] = link
        return 200, link

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.fail_rate and self.rng.random() < self.fail_rate:
            return 503, {"error_message": "The sandbox bank is unavailable (injected)."}
        key = str(body.get("idempotency_key") or "")
        if not key:
            return 400, {"error_message": "idempotency_key is required."}
        with self._lock:
            if key in self._by_key:
                return 200, {"transfer": self._transfers[self._by_key[key]]}
            if body.get("account_id") not in self._links:
                return 400, {"error_message": "Unknown account_id."}
            if body.get("type") not in ("debit", "credit"):
                return 400, {"error_message": "type must be debit or credit."}
            try:
                amount = Decimal(str(body.get("amount")))
            except InvalidOperation:
                return 400, {"error_message": "amount must be a decimal string."}
            if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
                return 400, {"error_message": "amount must be positive with at most 2 decimals."}
            transfer = {
                "id": f"tr_{uuid.uuid4().hex[:16]}",
                "account_id": body["account_id"],
                "type": body["type"],
                "amount": str(amount),
                "status": "pending",
                "failure_reason": "",
            }
            if amount % 1 == Decimal("0.13"):
                transfer["status"], transfer["failure_reason"] = "failed", "insufficient funds"
            elif self.auto_settle:
                transfer["status"] = "settled"
            self._transfers[transfer["id"]] = transfer
            self._by_key[key] = transfer["id"]
            return 200, {"transfer": transfer}

    def get(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            transfer = self._transfers.get(str(body.get("transfer_id")))
        return (404, {"error_message": "No such transfer."}) if transfer is None else (200, {"transfer": transfer})

    def simulate(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        event = body.get("event_type")
        if event not in ("posted", "settled", "failed", "returned"):
            return 400, {"error_message": "Unknown event_type."}
        with self._lock:
            transfer = self._transfers.get(str(body.get("transfer_id")))
            if transfer is None:
                return 404, {"error_message": "No such transfer."}
            transfer["status"] = event
            if event in ("failed", "returned"):
                transfer["failure_reason"] = "simulated"
            return 200, {"transfer": transfer}

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-bank", daemon=True)
        self._thread.start()
        bound_host, bound_port = self._server.server_address[:2]
        return f"http://{bound_host!s}:{bound_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _handler_for(bank: SandboxBank) -> type[BaseHTTPRequestHandler]:
    routes = {
        "/accounts/link": bank.link,
        "/transfer/create": bank.create,
        "/transfer/get": bank.get,
        "/sandbox/transfer/simulate": bank.simulate,
    }

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body in two writes: no ~40 ms delayed-ACK wait
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length)) if length else {}
            except ValueError:
                body = None
            payload: dict[str, Any]
            if not isinstance(body, dict):
                status, payload = 400, {"error_message": "The body must be a JSON object."}
            elif self.path == "/control":
                if "auto_settle" in body:
                    bank.auto_settle = bool(body["auto_settle"])
                if "fail_rate" in body:
                    bank.fail_rate = float(body["fail_rate"])
                status, payload = 200, {"auto_settle": bank.auto_settle, "fail_rate": bank.fail_rate}
            elif self.path in routes:
                status, payload = routes[self.path](body)
            else:
                status, payload = 404, {"error_message": "Not found."}
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler
