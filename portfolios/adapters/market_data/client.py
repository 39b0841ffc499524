"""A Polygon-shaped HTTP client: GET /v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}, and
corporate actions from GET /v3/reference/dividends and /v3/reference/splits (following
`next_url` pages).

Timeouts on every call; connection errors, 429 and 5xx are retried with exponential
backoff (urllib3 Retry, honouring Retry-After). Closes are parsed straight to Decimal
(`parse_float=Decimal`), never through a float.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from portfolios.adapters.market_data.interface import CorporateActionEvent, MarketDataError, exact_ratio

MAX_PAGES = 100


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

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        if params is None:
            params = {"adjusted": "true", "sort": "asc"}
        try:
            response = self.session.get(url, timeout=self.timeout, params=params)
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

    def _pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        body = self._get(path, params)
        for _ in range(MAX_PAGES):
            rows.extend(r for r in body.get("results") or [] if isinstance(r, dict))
            next_url = body.get("next_url")
            if not next_url:
                return rows
            # The next page is on the same service (never follow a link elsewhere).
            if urlparse(str(next_url)).netloc not in ("", urlparse(self.base_url).netloc):
                raise MarketDataError("The market data service sent a next page on another host.")
            body = self._get(str(next_url), {})
        raise MarketDataError(f"The market data service sent more than {MAX_PAGES} pages of {path}.")

    def corporate_actions(self, symbols: list[str], start: date, end: date) -> list[CorporateActionEvent]:
        """Cash dividends and splits with an ex-date in [start, end] for `symbols`: two calls for
        every ticker (Polygon filters by date without a ticker), filtered here."""
        wanted = {s.upper() for s in symbols}
        events: list[CorporateActionEvent] = []
        window = {"limit": "1000", "order": "asc"}
        for row in self._pages(
            "/v3/reference/dividends",
            {**window, "ex_dividend_date.gte": start.isoformat(), "ex_dividend_date.lte": end.isoformat()},
        ):
            if str(row.get("ticker", "")).upper() in wanted:
                events.append(parse_dividend(row))
        for row in self._pages(
            "/v3/reference/splits",
            {**window, "execution_date.gte": start.isoformat(), "execution_date.lte": end.isoformat()},
        ):
            if str(row.get("ticker", "")).upper() in wanted:
                events.append(parse_split(row))
        return events


def _day(row: dict[str, Any], key: str, *, required: bool = False) -> date | None:
    raw = row.get(key)
    if raw in (None, ""):
        if required:
            raise MarketDataError(f"A corporate action has no {key}.")
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise MarketDataError(f"A corporate action's {key} is not a date: {raw!r}.") from exc


def _number(row: dict[str, Any], key: str) -> Decimal | None:
    raw = row.get(key)
    if raw in (None, ""):
        return None
    try:
        return raw if isinstance(raw, Decimal) else Decimal(str(raw))
    except ArithmeticError as exc:
        raise MarketDataError(f"A corporate action's {key} is not a number: {raw!r}.") from exc


def parse_dividend(row: dict[str, Any]) -> CorporateActionEvent:
    """One result of Polygon's /v3/reference/dividends (cash dividends: dividend_type CD, SC, LT, ST)."""
    ticker = str(row.get("ticker") or "").upper()
    ex_date = _day(row, "ex_dividend_date", required=True)
    assert ex_date is not None
    return CorporateActionEvent(
        external_id=str(row.get("id") or f"{ticker}-D-{ex_date.isoformat()}"),
        symbol=ticker,
        kind="cash_dividend",
        ex_date=ex_date,
        record_date=_day(row, "record_date"),
        pay_date=_day(row, "pay_date"),
        amount_per_share=_number(row, "cash_amount"),
        currency=str(row.get("currency") or "USD").upper(),
    )


def parse_split(row: dict[str, Any]) -> CorporateActionEvent:
    """One result of Polygon's /v3/reference/splits (`split_to` new shares for `split_from` old);
    `cash_in_lieu_price` is the sandbox's extension (the price fractional shares are paid at)."""
    ticker = str(row.get("ticker") or "").upper()
    ex_date = _day(row, "execution_date", required=True)
    assert ex_date is not None
    split_to, split_from = _number(row, "split_to"), _number(row, "split_from")
    if split_to is None or split_from is None:
        raise MarketDataError(f"The split of {ticker} on {ex_date} has no ratio.")
    numerator, denominator = exact_ratio(split_to, split_from)
    return CorporateActionEvent(
        external_id=str(row.get("id") or f"{ticker}-S-{ex_date.isoformat()}"),
        symbol=ticker,
        kind="split",
        ex_date=ex_date,
        ratio_numerator=numerator,
        ratio_denominator=denominator,
        cash_in_lieu_price=_number(row, "cash_in_lieu_price"),
    )
