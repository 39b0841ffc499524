"""Bearer-token lookups, read fresh on every API request (a revoked token is refused on the very
next request; expiry and scopes are checked by django-oauth-toolkit).

A token of a deactivated user is refused: the toolkit itself does not look at `is_active`,
so without this a user switched off in the admin kept API access until the token expired.

The lookup is the toolkit's own query (the token by its checksum, with its application and
user), its SQL built once (`kronos.db.CompiledRead`) and run fresh on every request: building
it cost more than running it.
"""

import hashlib
from typing import Any

from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from kronos.db import CompiledRead


def _tokens(checksum: str) -> Any:
    """What `OAuth2Validator._load_access_token` reads (`.first()`: ordered by pk, one row)."""
    model = get_access_token_model()
    return model.objects.select_related("application", "user").filter(token_checksum=checksum).order_by("pk")[:1]


_TOKEN = CompiledRead(lambda _shape, checksum: _tokens(checksum), str)


class ActiveUserTokenValidator(OAuth2Validator):
    def _load_access_token(self, token: str) -> Any:
        found = _TOKEN.rows(hashlib.sha256(token.encode("utf-8")).hexdigest())
        access = found[0] if found else None
        if access is not None and access.user is not None and not access.user.is_active:
            return None
        return access
