"""Bearer-token lookups through the read cache.

django-oauth-toolkit loads the access token (with its application and user) from the
database on every API request. Here that row comes from the read cache under the data
version, which moves when any token is issued, refreshed or revoked and when a user changes
(deactivated, roles changed): a revoked token is refused on the very next request, as
before. Expiry and scopes are still checked by the toolkit on every request.

A token of a deactivated user is refused: the toolkit itself does not look at `is_active`,
so without this a user switched off in the admin kept API access until the token expired.
"""

import hashlib
from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

from kronos import readcache


class CachedTokenValidator(OAuth2Validator):
    def _load_access_token(self, token: str) -> Any:
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        access = readcache.cached(
            f"token:{checksum}", lambda: super(CachedTokenValidator, self)._load_access_token(token), store=bool
        )
        if access is not None and access.user is not None and not access.user.is_active:
            return None
        return access
