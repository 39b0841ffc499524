"""Market data: daily closes and corporate actions from a provider, behind one small interface.

- `interface`: the `MarketData` protocol, `CorporateActionEvent`, `MarketDataError`;
- `client`: `HttpMarketData`, the Polygon-shaped HTTP client;
- `config`: `get_provider()`, the adapter `settings.MARKET_DATA_ADAPTER` chooses.
"""

from portfolios.adapters.market_data.config import get_provider
from portfolios.adapters.market_data.interface import CorporateActionEvent, MarketData, MarketDataError

__all__ = ["CorporateActionEvent", "MarketData", "MarketDataError", "get_provider"]
