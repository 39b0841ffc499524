from kronos.errors import DomainError


class TradingError(DomainError):
    """Bad input or an illegal change in the trading domain, with a message a user can read."""
