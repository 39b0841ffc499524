"""The one verifier of incoming signed webhooks (custodian, KYC provider, any other).

Every provider signs HMAC-SHA256 over "<timestamp>.<body>" with a shared secret; they differ
only in how the timestamp and signature travel (one header `t=...,v1=...` for the custodian,
two headers for the KYC provider). Each adapter parses its headers and calls `verify()`,
which decides, the same way for all of them:

- the timestamp is ASCII digits only, at most MAX_TIMESTAMP_DIGITS of them (a Unix time in
  seconds; no sign, spaces, underscores or other scripts' digits that `int()` would accept);
- the signature matches (constant-time comparison against each candidate);
- the timestamp is within `tolerance` seconds of now, in the past *or the future*: a webhook
  dated ahead of the clock is refused as a stale one is (a captured request signed for later
  replay), and a timestamp too large for a float is refused, not a 500.

The signature is checked before the age, so an unsigned caller learns nothing about the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

#: A Unix time in seconds has 10 digits until the year 2286.
MAX_TIMESTAMP_DIGITS = 12


class SignatureError(Exception):
    """A webhook whose signature is missing, malformed, wrong, stale or future-dated."""

    def __init__(self, message: str, *, stale: bool = False, reason: str = "bad signature"):
        super().__init__(message)
        self.stale = stale
        self.reason = reason


def compute(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse_timestamp(raw: str | None) -> int:
    text = (raw or "").strip()
    if not text or len(text) > MAX_TIMESTAMP_DIGITS or not (text.isascii() and text.isdigit()):
        raise SignatureError("The webhook signature has no valid timestamp.", reason="bad timestamp")
    return int(text)


def verify(
    secret: str,
    *,
    timestamp: str | None,
    signatures: Iterable[str],
    body: bytes,
    tolerance: int,
    now: float | None = None,
) -> int:
    """Check a signed webhook; return its timestamp or raise SignatureError (see the module)."""
    candidates = [s.strip() for s in signatures if s and s.strip()]
    if timestamp is None or not candidates:
        raise SignatureError("The webhook has no signature.", reason="missing signature headers")
    ts = parse_timestamp(timestamp)
    expected = compute(secret, ts, body)
    if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
        raise SignatureError("The webhook signature does not match.", reason="bad signature")
    current = time.time() if now is None else now
    if ts > current + tolerance:
        raise SignatureError("The webhook timestamp is in the future.", stale=True, reason="future timestamp")
    if ts < current - tolerance:
        raise SignatureError("The webhook timestamp is too old.", stale=True, reason="stale timestamp")
    return ts
