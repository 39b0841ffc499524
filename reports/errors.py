from kronos.errors import DomainError


class ReportsError(DomainError):
    """Bad input for a statement, a report, a batch or an export."""
