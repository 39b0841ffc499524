"""The bearer token's lookup on every API request: the toolkit's own query with its SQL built once
(kronos/api/tokens.py), read fresh each time."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from kronos.api.tokens import ActiveUserTokenValidator

pytestmark = pytest.mark.django_db


def test_the_token_is_read_as_the_toolkit_reads_it_in_one_query(make_token, alice, bob):
    """The same token, application and user as `OAuth2Validator._load_access_token` finds, in one
    query with the application, the user and the user's roles (read fresh: a role taken away
    counts on the next lookup); nothing for a token that names none, a deleted
    token or a deactivated user's."""
    ours, theirs = ActiveUserTokenValidator(), OAuth2Validator()
    raw = make_token(alice.user, "read trade")
    make_token(bob.user, "read")  # another token in the table
    roles = frozenset(alice.user.groups.values_list("name", flat=True))
    assert roles == {"advisor"}
    with CaptureQueriesContext(connection) as queries:
        found = ours._load_access_token(raw)
        assert (found.application.name, found.user.email) == ("tests", alice.user.email)
        assert found.user.roles == roles
    assert len(queries) == 1
    expected = theirs._load_access_token(raw)
    assert found == expected and found.scope == "read trade" and found.expires == expected.expires
    assert found.user == alice.user and found.application == expected.application
    for garbage in ("", "nothing", raw + "x", "\ue000a0\ue000", "’" * 300):
        assert ours._load_access_token(garbage) is None and theirs._load_access_token(garbage) is None
    alice.user.groups.clear()
    assert ours._load_access_token(raw).user.roles == frozenset()
    type(alice.user).objects.filter(pk=alice.user.pk).update(is_active=False)
    assert ours._load_access_token(raw) is None
    get_access_token_model().objects.filter(pk=found.pk).delete()
    assert ours._load_access_token(raw) is None and theirs._load_access_token(raw) is None
