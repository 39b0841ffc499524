"""The custodian's REST API as a client: timeouts, retries with backoff, stable ids.

Every submit carries the client order id both in the body and as the Idempotency-Key
header, so a retry after a timeout (when we cannot know whether the first call landed)
is answered with the first call's acknowledgement rather than a second order.
"""

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from trading.adapters.custodian.interface import (
    AccountOpenAck,
    AccountOpenRequest,
    CustodianError,
    CustodianRejected,
    OrderAck,
    OrderRequest,
    Statement,
)
from trading.adapters.retry import jittered_backoff

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
STATEMENTS_PAGE = 200  # accounts a `statements` call asks for at once (a URL of a few kB)


class RestCustodian:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        token: str = "",
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.token = token
        self.session = session or requests.Session()
        self.sleep = sleep

    def _request(self, method: str, path: str, *, json: Any = None, idempotency_key: str = "") -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        last: CustodianError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(jittered_backoff(attempt, base=self.backoff, cap=self.max_backoff))
            try:
                response = self.session.request(
                    method, f"{self.base_url}{path}", json=json, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                last = CustodianError(f"The custodian could not be reached: {type(exc).__name__}.")
                logger.warning("custodian call failed", extra={"path": path, "attempt": attempt, "error": str(exc)})
                continue
            if response.status_code in RETRYABLE_STATUS:
                last = CustodianError(f"The custodian answered {response.status_code}.", status=response.status_code)
                continue
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            if response.status_code >= 400:
                raise CustodianRejected(
                    str(payload.get("detail") or f"The custodian refused the request ({response.status_code})."),
                    status=response.status_code,
                )
            return payload
        assert last is not None
        raise last

    @staticmethod
    def _ack(payload: dict[str, Any]) -> OrderAck:
        return OrderAck(
            client_order_id=payload["client_order_id"],
            custodian_order_id=payload["id"],
            status=payload["status"],
            filled_quantity=Decimal(payload.get("filled_quantity") or "0"),
            message=payload.get("message", ""),
        )

    def submit_order(self, order: OrderRequest) -> OrderAck:
        payload = self._request("POST", "/v1/orders", json=order.as_json(), idempotency_key=order.client_order_id)
        return self._ack(payload)

    def cancel_order(self, client_order_id: str) -> OrderAck:
        payload = self._request(
            "POST", f"/v1/orders/{client_order_id}/cancel", idempotency_key=f"cancel-{client_order_id}"
        )
        return self._ack(payload)

    def get_order(self, client_order_id: str) -> OrderAck:
        return self._ack(self._request("GET", f"/v1/orders/{client_order_id}"))

    def open_account(self, request: AccountOpenRequest) -> AccountOpenAck:
        """Ask for a new account; the request id is the idempotency key (a retry opens nothing twice)."""
        payload = self._request("POST", "/v1/accounts", json=request.as_json(), idempotency_key=request.request_id)
        return AccountOpenAck(
            request_id=str(payload.get("request_id") or request.request_id),
            status=str(payload.get("status") or "pending"),
            account_number=str(payload.get("account_number") or ""),
            message=str(payload.get("message") or ""),
        )

    def update_account_settings(self, account_ref: str, *, fractional_shares: bool) -> None:
        """Tell the custodian what it keeps of an account's settings: whether it trades fractional
        shares (a split then leaves it its fractions). Setting a value is idempotent."""
        self._request("POST", f"/v1/accounts/{account_ref}/settings", json={"fractional_shares": fractional_shares})

    def statement(self, account_ref: str, as_of: date) -> Statement:
        payload = self._request("GET", f"/v1/accounts/{account_ref}/statement?as_of={as_of.isoformat()}")
        return Statement(
            account_ref=account_ref,
            as_of=as_of,
            cash=Decimal(payload["cash"]),
            positions={symbol: Decimal(q) for symbol, q in payload["positions"].items()},
        )

    def statements(self, account_refs: Sequence[str], as_of: date) -> dict[str, Statement]:
        """`statement` for many accounts: the custodian's positions and balances file, asked for
        STATEMENTS_PAGE accounts a call. A call that fails raises (the caller may fall back to
        one statement an account)."""
        out: dict[str, Statement] = {}
        refs = list(dict.fromkeys(account_refs))
        for start in range(0, len(refs), STATEMENTS_PAGE):
            query = urlencode({"as_of": as_of.isoformat(), "accounts": ",".join(refs[start : start + STATEMENTS_PAGE])})
            payload = self._request("GET", f"/v1/statements?{query}")
            for row in payload.get("results") or []:
                ref = str(row["account"])
                out[ref] = Statement(
                    account_ref=ref,
                    as_of=as_of,
                    cash=Decimal(row["cash"]),
                    positions={symbol: Decimal(q) for symbol, q in row["positions"].items()},
                )
        return out
