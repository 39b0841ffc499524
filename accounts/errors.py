from kronos.errors import DomainError


class AccountsError(DomainError):
    """Bad input or an illegal change to users, firms, advisors or households."""
