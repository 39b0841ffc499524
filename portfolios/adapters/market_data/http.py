"""A Polygon-shaped HTTP client: GET /v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}.

Timeouts on every call; connection errors, 429 and 5xx are retried with exponential
backoff (urllib3 Retry, honouring Retry-After). Closes are parsed straight to Decimal
(`parse_float=Decimal`), never through a float.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from portfolios.adapters.market_data.base import MarketDataError


class HttpMarketData:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        name: str = "sandbox",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.name = name
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def _get(self, path: str) -> dict:
        url = f"{self.base_url}{path}"
        try:
            response = self.session.get(url, timeout=self.timeout, params={"adjusted": "true", "sort": "asc"})
        except requests.RequestException as exc:
            raise MarketDataError(f"The market data service did not answer: {exc.__class__.__name__}.") from exc
        if response.status_code == 404:
            return {"results": [], "status": "NOT_FOUND"}
        if response.status_code != 200:
            raise MarketDataError(f"The market data service answered {response.status_code}.")
        try:
            body = json.loads(response.text, parse_float=Decimal, parse_int=Decimal)
        except ValueError as exc:
            raise MarketDataError("The market data service sent something that is not JSON.") from exc
        if not isinstance(body, dict) or body.get("status") not in ("OK", "DELAYED"):
            raise MarketDataError(
                f"The market data service reported {body.get('status') if isinstance(body, dict) else body!r}."
            )
        return body

    def daily_closes(self, symbols: list[str], start: date, end: date) -> dict[str, list[tuple[date, Decimal]]]:
        out: dict[str, list[tuple[date, Decimal]]] = {}
        for symbol in symbols:
            body = self._get(
                f"/v2/aggs/ticker/{quote(symbol.upper())}/range/1/day/{start.isoformat()}/{end.isoformat()}"
            )
            series = []
            for bar in body.get("results") or []:
                day = datetime.fromtimestamp(int(bar["t"]) / 1000, tz=UTC).date()
                close = bar["c"] if isinstance(bar["c"], Decimal) else Decimal(str(bar["c"]))
                series.append((day, close))
            out[symbol.upper()] = sorted(series)
        return out

    def latest_close(self, symbol: str) -> tuple[date, Decimal] | None:
        body = self._get(f"/v2/aggs/ticker/{quote(symbol.upper())}/prev")
        results = body.get("results") or []
        if not results:
            return None
        bar = results[-1]
        return datetime.fromtimestamp(int(bar["t"]) / 1000, tz=UTC).date(), Decimal(str(bar["c"]))
