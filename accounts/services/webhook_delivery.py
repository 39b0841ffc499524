"""Sending webhook deliveries, signed as Standard Webhooks, to addresses that may receive them.

Sending (`deliveries_send`): a due delivery is locked (`FOR UPDATE SKIP LOCKED`, so workers
share the queue and never send one delivery at the same time twice), POSTed, and its outcome
and the attempt's log row are written before the lock is released. A crash between the POST
and the commit sends it again later with the same `webhook-id`, which receivers use to ignore
a repeat (the Standard Webhooks contract). A non-2xx answer, a refused connection or a
timeout is retried with exponential backoff with jitter (`backoff_delay`) until
`WEBHOOK_RETRY_SECONDS` (three days) after the delivery was made, then the delivery is marked failed.

Signature (https://www.standardwebhooks.com/): headers `webhook-id` (the event's `evt_…`
id), `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body" keyed with the secret's decoded bytes>`, made by the `standardwebhooks`
package.

Addresses: outside DEBUG a URL must be https and its host must not resolve to a private,
loopback, link-local, multicast or reserved address (no requests into our own network);
hosts in `WEBHOOK_URL_ALLOWLIST` are exempt, and `WEBHOOK_ALLOW_HTTP` /
`WEBHOOK_ALLOW_PRIVATE_ADDRESSES` relax the rules for a sandbox. The URL is checked when
the subscription is made (literal addresses and local names; no DNS look-up there) and again,
resolved, before every attempt (DNS may change), and redirects are not followed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.errors import AccountsError
from accounts.models import WebhookAttempt, WebhookDelivery
from accounts.selectors.events import event_as_dict

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105 -- the prefix of the Standard Webhooks secret form
EXCERPT = 500


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- Signing ---------------------------------------------------------------------------------


def secret_new() -> str:
    """A new signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(*, secret: str, msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header value (`v1,<base64>`)."""
    return Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)


def signed_headers(*, secret: str, msg_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    moment = (now or timezone.now()).replace(microsecond=0)
    return {
        "content-type": "application/json",
        "user-agent": "Kronos-Webhooks/1.0",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=moment, body=body),
    }


# --- Address checks ----------------------------------------------------------------------------


def _allowlisted(host: str, port: int | None) -> bool:
    allow = [str(a).lower() for a in _setting("WEBHOOK_URL_ALLOWLIST", [])]
    return host in allow or (port is not None and f"{host}:{port}" in allow)


def _forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def url_check(url: str, *, resolve: bool = True) -> str:
    """`url` if it may receive webhooks, else AccountsError (field `url`) saying why."""
    url = (url or "").strip()
    if not url:
        raise AccountsError("The URL is required.", field="url")
    if len(url) > 500:
        raise AccountsError("The URL may be at most 500 characters.", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AccountsError("The URL is not valid.", field="url") from exc
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise AccountsError("The URL must start with https:// and name a host.", field="url")
    if parts.username or parts.password:
        raise AccountsError("The URL may not carry a user name or password.", field="url")
    if _allowlisted(host, port):
        return url
    if parts.scheme != "https" and not _setting("WEBHOOK_ALLOW_HTTP", settings.DEBUG):
        raise AccountsError("The URL must use https.", field="url")
    if _setting("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", settings.DEBUG):
        return url
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise AccountsError("The URL points into a private or local network; give a public address.", field="url")
    try:
        if _is_ip(host):
            addresses = {host.strip("[]")}
        else:
            addresses = {str(info[4][0]) for info in _resolve(host, port)} if resolve else set()
    except (OSError, UnicodeError, ValueError) as exc:
        raise AccountsError(f"The host {host} cannot be resolved.", field="url") from exc
    if any(_forbidden_address(a) for a in addresses):
        raise AccountsError("The URL points into a private or local network; give a public address.", field="url")
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int | None) -> list[Any]:
    return socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)


# --- Sending ---------------------------------------------------------------------------------


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """The wait after the `attempts`-th failure: exponential (base * 2^(n-1), capped), with
    jitter — a random 50 to 100 % of it, so receivers coming back are not hit all at once."""
    base = float(_setting("WEBHOOK_BACKOFF_BASE_SECONDS", 5))
    cap = float(_setting("WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600))
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * (rng or random).uniform(0.5, 1.0))  # nosec B311 -- jitter, not a secret


def retry_window() -> timedelta:
    return timedelta(seconds=int(_setting("WEBHOOK_RETRY_SECONDS", 3 * 24 * 3600)))


@dataclass
class SendResult:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _claim(now: datetime, skip_subscriptions: set[int]) -> WebhookDelivery | None:
    return (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .exclude(subscription_id__in=skip_subscriptions)
        .order_by("next_attempt_at", "id")
        .select_related("subscription", "event")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def deliveries_send(*, limit: int = 500, now: datetime | None = None, session: Any = None) -> SendResult:
    """Send up to `limit` due deliveries, each in its own transaction (see the module docstring).
    A subscription whose receiver failed is not tried again in the same run."""
    result = SendResult()
    unreachable: set[int] = set()
    http = session or requests.Session()
    for _ in range(limit):
        with transaction.atomic():
            moment = now or timezone.now()
            delivery = _claim(moment, unreachable)
            if delivery is None:
                break
            ok = _attempt(delivery, http=http, now=moment, result=result)
            if not ok:
                unreachable.add(delivery.subscription_id)
    return result


def _attempt(delivery: WebhookDelivery, *, http: Any, now: datetime, result: SendResult) -> bool:
    sub, event = delivery.subscription, delivery.event
    body = json.dumps(event_as_dict(event), separators=(",", ":"))
    status_code: int | None = None
    excerpt = ""
    error = ""
    started = time.monotonic()
    if not sub.is_active:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.last_error = "subscription deleted"
        delivery.save(update_fields=["status", "last_error"])
        return True
    try:
        url_check(sub.url)
        response = http.post(
            sub.url,
            data=body.encode(),
            headers=signed_headers(secret=sub.secret, msg_id=event.public_id, body=body),
            timeout=float(_setting("WEBHOOK_TIMEOUT_SECONDS", settings.HTTP_TIMEOUT_SECONDS)),
            allow_redirects=False,
        )
        status_code = response.status_code
        excerpt = (response.text or "")[:EXCERPT]
    except AccountsError as exc:
        error = f"refused address: {exc.message}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:EXCERPT]
    duration = int((time.monotonic() - started) * 1000)
    WebhookAttempt.objects.create(
        delivery=delivery,
        attempted_at=now,
        status_code=status_code,
        response_excerpt=excerpt,
        error=error[:EXCERPT],
        duration_ms=duration,
    )
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_response = excerpt
    delivery.last_error = error[:EXCERPT] or ("" if status_code and 200 <= status_code < 300 else f"HTTP {status_code}")
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        result.delivered += 1
        ok = True
    else:
        deadline = delivery.created_at + retry_window()
        if now >= deadline:
            delivery.status = WebhookDelivery.Status.FAILED
            result.failed += 1
            logger.warning("webhook delivery gave up", extra={"delivery_id": delivery.pk, "error": delivery.last_error})
        else:
            delivery.next_attempt_at = min(now + backoff_delay(delivery.attempts), deadline)
            result.retried += 1
        result.errors.append(delivery.last_error)
        ok = False
    delivery.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_response",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return ok
