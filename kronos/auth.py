"""The session's user through the read cache.

Django's auth middleware loads the signed-in user (and the navigation then their roles) from
the database on every page. Here that user comes from the read cache under its data version,
which moves when any user, group membership or permission changes: a deactivated user or a
changed role counts from the very next request, as before.
"""

from typing import Any

from django.contrib.auth.backends import ModelBackend

from kronos import readcache


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        def load() -> Any:
            user = super(CachedModelBackend, self).get_user(user_id)
            if user is not None:
                _ = user.roles  # computed once and kept with the cached user
            return user

        return readcache.cached(f"user:{user_id}", load, store=bool)
