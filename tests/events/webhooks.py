"""Webhook tests' helpers: a real receiving HTTP server on this machine, and events to send it."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.services import event_emit

SUBS = "/api/v1/webhook-subscriptions/"


class Receiver:
    """An integrator's endpoint: verifies each request's Standard Webhooks signature and
    processes each webhook-id once (a repeat is acknowledged and ignored). `mode` is "ok",
    "error" (answers 500) or "down" (the socket is closed: connections are refused)."""

    def __init__(self):
        self.secret = None
        self.processed: dict[str, dict] = {}
        self.requests = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.server = None
        self.port = None
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    if receiver.mode == "error":
                        self._answer(500, b"temporarily broken")
                        return
                    try:
                        payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                    except WebhookVerificationError:
                        receiver.bad_signatures += 1
                        self._answer(400, b"bad signature")
                        return
                    msg_id = self.headers["webhook-id"]
                    assert payload["id"] == msg_id
                    if msg_id in receiver.processed:
                        receiver.duplicates += 1
                    else:
                        receiver.processed[msg_id] = payload
                self._answer(204, b"")

            def _answer(self, code, text):
                self.send_response(code)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self.mode = "ok"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def go_down(self):
        self.server.shutdown()
        self.server.server_close()  # the port is closed: connections are refused

    def come_back(self):
        self.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def emit_events(world, n, household=None):
    return [
        event_emit(
            kind="household.created",
            firm=world["advisor"].firm,
            household=household or world["household"],
            payload={"n": i},
        )
        for i in range(n)
    ]
