"""The session's user, read fresh from the database on every request.

Security lookups are never cached (the signed-in user, OAuth tokens, second-factor devices): a
deactivated user, a changed role, a revoked token or device counts from the very next request.
The class keeps the name its first release gave it: sessions store the backend's dotted path.
"""

from django.contrib.auth.backends import ModelBackend


class CachedModelBackend(ModelBackend):
    """Django's model backend (the name is kept for the sessions that store it; nothing is cached)."""
