from kronos.errors import DomainError


class NotificationsError(DomainError):
    """Bad input to the inbox or the preferences, readable by a user."""
