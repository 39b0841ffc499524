from kronos.errors import DomainError


class ComplianceError(DomainError):
    """Bad input or an illegal change in the compliance domain, with a message a user can read."""
