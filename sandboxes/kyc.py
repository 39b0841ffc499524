"""The sandbox KYC provider: a local HTTP service in Jumio's shape, with deterministic outcomes.

The outcome is chosen by the applicant's last name: containing "Reject" → REJECTED,
"Review" → WARNING (needs review), anything else → PASSED. After `delay` seconds the
service POSTs the signed callback to the applicant's callbackUrl, and
GET /api/v1/accounts/<reference>/execution answers the same result for polling.
Started by `python manage.py run_sandbox_kyc [--port 8104]`; tests start it in a thread.
"""

import json
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from compliance.adapters.kyc import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


def decide(last_name: str) -> tuple[str, str]:
    lowered = (last_name or "").lower()
    if "reject" in lowered:
        return "REJECTED", "DOCUMENT_NOT_MATCHING"
    if "review" in lowered:
        return "WARNING", "MANUAL_REVIEW_REQUIRED"
    return "PASSED", "OK"


class SandboxKYCServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, secret: str, delay: float = 1.0):
        super().__init__(address, _Handler)
        self.secret = secret
        self.delay = delay
        self.executions: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.delivered: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{port}"

    def payload(self, reference: str) -> dict[str, Any]:
        execution = self.executions[reference]
        done = time.time() >= execution["ready_at"]
        body: dict[str, Any] = {
            "customerInternalReference": reference,
            "account": {"id": execution["account_id"]},
            "workflowExecution": {"id": execution["id"], "status": "PROCESSED" if done else "INITIATED"},
        }
        if done:
            body["eventId"] = execution["event_id"]
            body["callbackSentAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            body["workflowExecution"]["decision"] = {
                "type": execution["decision"],
                "details": {"label": execution["label"]},
            }
        return body

    def deliver(self, reference: str) -> None:
        """POST the signed callback (best effort: a lost callback is recovered by polling)."""
        execution = self.executions[reference]
        wait = execution["ready_at"] - time.time()
        if wait > 0:
            time.sleep(wait)
        body = json.dumps(self.payload(reference)).encode()
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 -- the callback URL the client gave
            execution["callback_url"],
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(body, timestamp, self.secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 -- local callback URL  # nosec B310 -- http(s) callback URL from settings
                self.delivered.append((reference, response.status))
        except Exception as exc:  # noqa: BLE001 -- a sandbox logs and moves on
            self.delivered.append((reference, getattr(exc, "code", 0)))


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body in two writes: no ~40 ms delayed-ACK wait
    server: SandboxKYCServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/api/v1/accounts":
            return self._send(404, {"message": "not found"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            reference = str(body["customerInternalReference"])
            applicant = body.get("applicant") or {}
        except (ValueError, KeyError):
            return self._send(400, {"message": "customerInternalReference is required"})
        server = self.server
        with server.lock:
            new = reference not in server.executions
            if new:
                decision, label = decide(applicant.get("lastName", ""))
                server.executions[reference] = {
                    "id": str(uuid.uuid4()),
                    "account_id": str(uuid.uuid4()),
                    "event_id": str(uuid.uuid4()),
                    "decision": decision,
                    "label": label,
                    "callback_url": body.get("callbackUrl") or "",
                    "ready_at": time.time() + server.delay,
                }
            execution = server.executions[reference]
        if new and execution["callback_url"]:
            threading.Thread(target=server.deliver, args=(reference,), daemon=True).start()
        self._send(
            200 if not new else 201,
            {
                "account": {"id": execution["account_id"]},
                "workflowExecution": {"id": execution["id"], "status": "INITIATED"},
                "web": {"href": f"{server.url}/web/{execution['id']}"},
            },
        )

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if self.path == "/health":
            return self._send(200, {"status": "ok"})
        if len(parts) == 5 and parts[:3] == ["api", "v1", "accounts"] and parts[4] == "execution":
            with self.server.lock:
                if parts[3] not in self.server.executions:
                    return self._send(404, {"message": "unknown reference"})
                return self._send(200, self.server.payload(parts[3]))
        if len(parts) == 2 and parts[0] == "web":
            return self._send(200, {"message": "The sandbox needs no documents: the result arrives by callback."})
        return self._send(404, {"message": "not found"})


def start_in_thread(*, secret: str, port: int = 0, delay: float = 0.0) -> SandboxKYCServer:
    """A running sandbox on 127.0.0.1 (port 0: any free port); call .shutdown() when done."""
    server = SandboxKYCServer(("127.0.0.1", port), secret=secret, delay=delay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
