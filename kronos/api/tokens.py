"""Bearer-token lookups, read fresh on every API request (a revoked token is refused on the very
next request; expiry and scopes are checked by django-oauth-toolkit).

A token of a deactivated user is refused: the toolkit itself does not look at `is_active`,
so without this a user switched off in the admin kept API access until the token expired.
"""

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class ActiveUserTokenValidator(OAuth2Validator):
    def _load_access_token(self, token: str) -> Any:
        access = super()._load_access_token(token)
        if access is not None and access.user is not None and not access.user.is_active:
            return None
        return access
