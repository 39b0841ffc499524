"""Market data: daily closes from a provider, behind one small interface.

`get_provider()` returns the adapter chosen by `settings.MARKET_DATA_ADAPTER`:
- "sandbox" / "polygon": `HttpMarketData`, a Polygon-shaped HTTP client at
  `settings.MARKET_DATA_URL` (the sandbox is `python manage.py run_sandbox_market_data`);
- "csv": `CsvMarketData`, reading a wide CSV file (`settings.MARKET_DATA_CSV`) and, when
  `settings.MARKET_DATA_CORPORATE_ACTIONS` names one, a JSON file of Polygon-shaped
  dividends and splits (`{"dividends": [...], "splits": [...]}`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Protocol

from django.conf import settings

from portfolios.adapters.market_data.base import CorporateActionEvent, MarketDataError


class MarketData(Protocol):
    name: str

    def daily_closes(self, symbols: list[str], start: date, end: date) -> dict[str, list[tuple[date, Decimal]]]:
        """Each symbol's closes in [start, end], oldest first (symbols without data map to [])."""
        ...

    def latest_close(self, symbol: str) -> tuple[date, Decimal] | None:
        """The symbol's most recent close, or None."""
        ...

    def corporate_actions(self, symbols: list[str], start: date, end: date) -> list[CorporateActionEvent]:
        """The cash dividends and splits of `symbols` with an ex-date in [start, end]."""
        ...


def get_provider() -> MarketData:
    kind = settings.MARKET_DATA_ADAPTER
    if kind in ("sandbox", "polygon"):
        from portfolios.adapters.market_data.http import HttpMarketData

        return HttpMarketData(
            base_url=settings.MARKET_DATA_URL,
            api_key=getattr(settings, "MARKET_DATA_API_KEY", ""),
            timeout=settings.HTTP_TIMEOUT_SECONDS,
            name=kind,
        )
    if kind == "csv":
        from portfolios.adapters.market_data.csv_file import CsvMarketData

        return CsvMarketData(
            getattr(settings, "MARKET_DATA_CSV", ""),
            corporate_actions_path=getattr(settings, "MARKET_DATA_CORPORATE_ACTIONS", "") or None,
        )
    raise MarketDataError(f"Unknown market data adapter: {kind!r}.")


__all__ = ["CorporateActionEvent", "MarketData", "MarketDataError", "get_provider"]
