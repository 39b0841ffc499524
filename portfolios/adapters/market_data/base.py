from portfolios.errors import PortfoliosError


class MarketDataError(PortfoliosError):
    """The market-data provider could not be reached or answered nonsense."""

    status_code = 502
