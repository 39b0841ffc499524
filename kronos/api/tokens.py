"""Bearer-token lookups, read fresh on every API request (a revoked token is refused on the very
next request; expiry and scopes are checked by django-oauth-toolkit).

A token of a deactivated user is refused: the toolkit itself does not look at `is_active`,
so without this a user switched off in the admin kept API access until the token expired.

The lookup is the toolkit's own query (the token by its checksum, with its application and
user) and, on PostgreSQL, the user's roles (an array subquery, as the session's user is read in
`kronos.auth`: every API view asks for them), its SQL built once (`kronos.db.CompiledRead`) and
run fresh on every request: building it cost more than running it.
"""

import hashlib
from typing import Any

from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import OuterRef
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from kronos.db import CompiledRead


def _tokens(checksum: str, postgres: bool) -> Any:
    """What `OAuth2Validator._load_access_token` reads (`.first()`: ordered by pk, one row), with
    the user's role names on PostgreSQL."""
    model = get_access_token_model()
    tokens = model.objects.select_related("application", "user").filter(token_checksum=checksum)
    if postgres:
        from django.contrib.postgres.expressions import ArraySubquery

        names = Group.objects.filter(user=OuterRef("user_id")).order_by().values("name")
        tokens = tokens.annotate(user_role_names=ArraySubquery(names))
    return tokens.order_by("pk")[:1]


_TOKEN = CompiledRead(lambda postgres, checksum: _tokens(checksum, postgres), str)


class ActiveUserTokenValidator(OAuth2Validator):
    def _load_access_token(self, token: str) -> Any:
        postgres = connection.vendor == "postgresql"
        found = _TOKEN.rows(hashlib.sha256(token.encode("utf-8")).hexdigest(), shape=postgres)
        access = found[0] if found else None
        if access is None or access.user is None:
            return access
        if not access.user.is_active:
            return None
        if postgres:
            access.user._roles_cache = frozenset(access.user_role_names)
        return access
