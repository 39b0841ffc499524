"""The sandbox custodian's webhooks: signed, pushed to `webhook_url` by a thread (retrying until a
2xx) or drained by `deliver_pending(send)`; duplicated, reordered or held back as told."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import requests

from sandboxes.custodian.core import WEBHOOK_SUBJECT_FIELDS, CustodianCore
from trading.adapters.custodian import signing


class WebhookDelivery(CustodianCore):
    def _take_webhooks(self) -> list[bytes]:
        with self._lock:
            batch, self._webhooks = self._webhooks, []
        if self.seed is not None and (self.options.reorder or self.options.defer_rate):
            # Threads queue events in any order: sort them by what they say before the seeded
            # choices, so a seed decides the same way every run.
            batch.sort(key=_event_sort_key)
        if self.options.defer_rate:
            # Each webhook is held back at most once, by a draw keyed by what it says: how many
            # are held back does not depend on how the dispatch thread's rounds cut the queue.
            kept: list[bytes] = []
            deferred: list[bytes] = []
            for body in batch:
                key = _webhook_key(body)
                if key not in self._deferred_once and self._choice(f"defer|{key}") < self.options.defer_rate:
                    self._deferred_once.add(key)
                    deferred.append(body)
                else:
                    kept.append(body)
            if deferred:
                self.stats.deferred_webhooks += len(deferred)
                with self._lock:
                    self._webhooks[:0] = deferred
            batch = kept
        if self.options.reorder:
            self._generator("reorder|" + "||".join(_webhook_key(body) for body in batch)).shuffle(batch)
        return batch

    def flush_deferred(self) -> None:
        """Stop holding webhooks back (the end of the day: the custodian retries until delivered)."""
        self.options.defer_rate = 0.0

    def pending_webhook_count(self) -> int:
        with self._lock:
            return len(self._webhooks)

    def headers_for(self, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", signing.SIGNATURE_HEADER: signing.sign(self.secret, body)}

    def deliver_pending(self, send: Callable[[bytes, dict[str, str]], int]) -> int:
        """Send every queued webhook through `send(body, headers) -> status`; requeue non-2xx.

        Returns the number delivered. Used in "manual" mode by tests and benchmarks.
        """
        delivered = 0
        failed: list[bytes] = []
        for body in self._take_webhooks():
            status = send(body, self.headers_for(body))
            if 200 <= status < 300:
                delivered += 1
                self.stats.webhooks_sent += 1
            else:
                self.stats.webhook_failures += 1
                failed.append(body)
        if failed:
            with self._lock:
                self._webhooks[:0] = failed
        return delivered

    def _dispatch_loop(self) -> None:
        session = requests.Session()
        attempt = 0
        while not self._stop.is_set():
            with self._lock:
                if not self._webhooks:
                    self._wake.wait(timeout=0.2)
                    continue
            if self.options.delay:
                time.sleep(self.options.delay)

            def send(body: bytes, headers: dict[str, str]) -> int:
                assert self.webhook_url
                try:
                    return session.post(self.webhook_url, data=body, headers=headers, timeout=10).status_code
                except requests.RequestException:
                    return 599

            before = self.stats.webhook_failures
            self.deliver_pending(send)
            if self.stats.webhook_failures > before:
                attempt += 1
                self._stop.wait(min(2.0, 0.05 * 2**attempt))
            else:
                attempt = 0


def _webhook_key(body: bytes) -> str:
    """What a webhook says, as a seeded choice's key (not its random event id, the sort key's last)."""
    return "|".join(_event_sort_key(body)[:-1])


def _event_sort_key(body: bytes) -> tuple[str, ...]:
    """A webhook's place in a deterministic order: what it is about, not when a thread queued it."""
    try:
        event = json.loads(body)
        data = event.get("data") or {}
    except ValueError:
        return ("", body.decode(errors="replace"))
    return (
        *(str(data.get(k, "")) for k in WEBHOOK_SUBJECT_FIELDS),
        str(event.get("type", "")),
        str(data.get("client_order_id", "")),
        str(event.get("id", "")),
    )
