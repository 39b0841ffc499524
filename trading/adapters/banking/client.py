"""The bank-transfer provider's REST API: timeouts, retries with backoff, idempotency keys."""

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests

from trading.adapters.banking.interface import BankingError, BankLink, BankTransfer
from trading.adapters.retry import jittered_backoff

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class RestBanking:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.2,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = session or requests.Session()
        self.sleep = sleep

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        last = "unknown error"
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(jittered_backoff(attempt, base=self.backoff, cap=5.0))
            try:
                response = self.session.post(f"{self.base_url}{path}", json=body, timeout=self.timeout)
            except requests.RequestException as exc:
                last = type(exc).__name__
                continue
            if response.status_code in RETRYABLE_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            payload = response.json() if response.content else {}
            if response.status_code >= 400:
                message = payload.get("error_message") or f"The bank refused the request ({response.status_code})."
                raise BankingError(str(message), retryable=False)
            return payload
        raise BankingError(f"The bank could not be reached ({last}).")

    @staticmethod
    def _transfer(data: dict[str, Any]) -> BankTransfer:
        return BankTransfer(
            id=data["id"],
            account_id=data["account_id"],
            type=data["type"],
            amount=Decimal(data["amount"]),
            status=data["status"],
            failure_reason=data.get("failure_reason") or "",
        )

    def link_account(self, *, owner: str, institution: str = "Sandbox Bank") -> BankLink:
        data = self._post("/accounts/link", {"owner": owner, "institution": institution})
        return BankLink(account_id=data["account_id"], mask=data["mask"], institution=data["institution"])

    def transfer_create(
        self, *, idempotency_key: str, account_id: str, type: str, amount: Decimal, description: str
    ) -> BankTransfer:
        data = self._post(
            "/transfer/create",
            {
                "idempotency_key": idempotency_key,
                "account_id": account_id,
                "type": type,
                "amount": str(amount),
                "description": description[:15],
            },
        )
        return self._transfer(data["transfer"])

    def transfer_get(self, transfer_id: str) -> BankTransfer:
        return self._transfer(self._post("/transfer/get", {"transfer_id": transfer_id})["transfer"])
