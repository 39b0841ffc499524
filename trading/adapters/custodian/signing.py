"""Webhook signatures: HMAC-SHA256 over "timestamp.body", sent as

    X-Custodian-Signature: t=<unix seconds>,v1=<hex digest>

The receiver recomputes the digest with the shared secret, compares in constant time and
refuses a timestamp further than the tolerance from now (a replayed old webhook).
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Custodian-Signature"


class SignatureError(Exception):
    """A webhook whose signature is missing, malformed, wrong or stale."""

    def __init__(self, message: str, *, stale: bool = False):
        super().__init__(message)
        self.stale = stale


def compute(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for `body` signed now (or at `timestamp`)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={compute(secret, ts, body)}"


def verify(secret: str, header: str | None, body: bytes, *, tolerance: int, now: float | None = None) -> int:
    """Check `header` against `body`; return its timestamp or raise `SignatureError`."""
    if not header:
        raise SignatureError("The webhook has no signature.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError, IndexError):
        raise SignatureError("The webhook signature has no valid timestamp.") from None
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("The webhook signature does not match.")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("The webhook timestamp is too old or in the future.", stale=True)
    return timestamp
