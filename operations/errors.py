from kronos.errors import DomainError


class OperationsError(DomainError):
    """Bad input or an illegal change in operations (jobs, reconciliation, billing), readable by a user."""
