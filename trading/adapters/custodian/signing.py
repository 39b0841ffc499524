"""Webhook signatures: HMAC-SHA256 over "timestamp.body", sent as

    X-Custodian-Signature: t=<unix seconds>,v1=<hex digest>

The receiver recomputes the digest with the shared secret, compares in constant time and
refuses a timestamp further than the tolerance from now, past or future (kronos/webhooks.py).
"""

import time

from kronos import webhooks
from kronos.webhooks import SignatureError, compute

SIGNATURE_HEADER = "X-Custodian-Signature"

__all__ = ["SIGNATURE_HEADER", "SignatureError", "compute", "sign", "verify"]


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for `body` signed now (or at `timestamp`)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={compute(secret, ts, body)}"


def verify(secret: str, header: str | None, body: bytes, *, tolerance: int, now: float | None = None) -> int:
    """Check `header` against `body` with the shared verifier (kronos/webhooks.py); return its
    timestamp or raise `SignatureError`."""
    if not header:
        raise SignatureError("The webhook has no signature.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    timestamps = parts.get("t") or [""]
    return webhooks.verify(
        secret, timestamp=timestamps[0], signatures=parts.get("v1", []), body=body, tolerance=tolerance, now=now
    )
