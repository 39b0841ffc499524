from kronos.errors import DomainError


class PortfoliosError(DomainError):
    """Bad input or an illegal change in the portfolios domain, with a message a user can read."""
