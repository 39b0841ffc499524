"""Which market-data adapter runs: `get_provider()` returns the one `settings.MARKET_DATA_ADAPTER`
chooses:
- "sandbox" / "polygon": `HttpMarketData`, a Polygon-shaped HTTP client at
  `settings.MARKET_DATA_URL` (the sandbox is `python manage.py run_sandbox_market_data`);
- "csv": `CsvMarketData`, reading a wide CSV file (`settings.MARKET_DATA_CSV`) and, when
  `settings.MARKET_DATA_CORPORATE_ACTIONS` names one, a JSON file of Polygon-shaped
  dividends and splits (`{"dividends": [...], "splits": [...]}`).
"""

from __future__ import annotations

from django.conf import settings

from portfolios.adapters.market_data.client import HttpMarketData
from portfolios.adapters.market_data.interface import MarketData, MarketDataError


def get_provider() -> MarketData:
    kind = settings.MARKET_DATA_ADAPTER
    if kind in ("sandbox", "polygon"):
        return HttpMarketData(
            base_url=settings.MARKET_DATA_URL,
            api_key=getattr(settings, "MARKET_DATA_API_KEY", ""),
            timeout=settings.HTTP_TIMEOUT_SECONDS,
            name=kind,
        )
    if kind == "csv":
        # Imported here, not at the top: only `make run` and the simulator read closes from a file.
        from portfolios.adapters.market_data.csv_file import CsvMarketData

        return CsvMarketData(
            getattr(settings, "MARKET_DATA_CSV", ""),
            corporate_actions_path=getattr(settings, "MARKET_DATA_CORPORATE_ACTIONS", "") or None,
        )
    raise MarketDataError(f"Unknown market data adapter: {kind!r}.")
