"""The authorization matrix: every URL of the project, as every role, against objects that are
not the role's to see.

The URL patterns are WALKED (django.urls.get_resolver(), recursively), so an endpoint added
later is in the matrix automatically; a pattern that takes an object id must be named in
OBJECT_OF in tests/authorization_catalogue.py (which object an id refers to) or `test_every_pattern_with_an_id_is_in_the_matrix`
fails — add the new endpoint there.

The world: firm 1 has advisors alice and bob with a household each, charlie (an investor in
alice's household), a compliance officer and an operations user; firm 2 has an advisor, a
household with an investor, accounts, a model, a proposal, an order, KYC and AML cases, a
suitability case, a fee schedule and billing run, a reconciliation break and OAuth clients.
Bob's household holds an account, a proposal and an order too: alice (advisor) and charlie
(investor) must not see those either, while firm 1's compliance and operations may.

For each pattern with an id and each role the test requests the foreign object with GET,
POST and PATCH and expects a refusal — 404, 403, 401, 405, or a redirect to the login (or 2FA)
page — and never a 2xx, never a 5xx, and never the foreign household's names in the body.
Patterns without an id must never answer 5xx nor show a foreign household's names.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from tests.authorization_catalogue import (
    ANSWERS_ANYONE,
    EXCLUDED_PREFIXES,
    GLOBAL_FOR,
    OBJECT_OF,
    ROLES,
    Pattern,
    walked,
)
from tests.authorization_world import World, build_world


@pytest.fixture
def world(db, alice, bob, alice_household, bob_household, charlie, make_token) -> World:
    return build_world(alice, bob, alice_household, bob_household, charlie, make_token)


def test_every_pattern_with_an_id_is_in_the_matrix():
    missing = [f"{p.route}  (name {p.name!r})" for p in walked() if p.id_params and p.name not in OBJECT_OF]
    assert not missing, (
        "URL patterns that take an object id but are not in the authorization matrix; add each to "
        "OBJECT_OF in tests/authorization_catalogue.py:\n" + "\n".join(missing)
    )


def test_the_walk_finds_the_pages_and_the_api():
    names = {p.name for p in walked()}
    assert {"api-account-detail", "portfolios:account_detail", "accounts:household_detail"} <= names
    assert not any(p.route.startswith(EXCLUDED_PREFIXES) for p in walked())


# --- the requests ---------------------------------------------------------------------------


def _client(role: str, pattern: Pattern, world: World, make_token):
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from rest_framework.test import APIClient

    if role == "anonymous":
        return APIClient() if pattern.is_api else Client()
    user = world.users[role]
    if pattern.is_api:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, 'read trade')}")
        return client
    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="matrix", defaults={"confirmed": True})
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def _refused(response) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    if response.status_code in (301, 302, 303):
        location = response.headers.get("Location", "")
        return any(part in location for part in ("/accounts/login/", "/accounts/2fa/"))
    return False


MISSING_ID = 2_000_000_000


def _same_as_missing(response, pattern, kwargs, role, method, world, make_token) -> bool:
    """A view that answers a foreign object exactly as it answers an id that exists nowhere (a
    redirect to its queue with "not found", say) reveals nothing: not a leak, though the house
    rule is a 404. Only a redirect or a 4xx qualifies; a 2xx never does."""
    if not (300 <= response.status_code < 500) or not any(isinstance(v, int) for v in kwargs.values()):
        return False
    missing = {k: MISSING_ID if isinstance(v, int) else v for k, v in kwargs.items()}
    other = _request(_client(role, pattern, world, make_token), method, _reverse(pattern, missing))
    return other.status_code == response.status_code and other.headers.get("Location") == response.headers.get(
        "Location"
    )


def _body(response) -> str:
    content = getattr(response, "content", b"")
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    return content.decode("utf-8", "replace")


def _sides_for(role: str, kind: str | None) -> list[str]:
    sides = ["firm2"]
    if role in ("advisor", "investor", "anonymous"):
        sides.append("bob")  # firm 1's compliance and operations see bob's household by design
    return sides


_keys = itertools.count(1)


def _request(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    # a fresh idempotency key, so a write reaches the object lookup instead of a 400 for the header
    headers = {"Idempotency-Key": f"matrix-{next(_keys)}"}
    if method == "POST":
        return client.post(url, {}, headers=headers)
    return client.patch(url, "{}", content_type="application/json", headers=headers)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reaches_another_households_objects(role, world, make_token):
    problems = []
    for pattern in walked():
        if not pattern.id_params or pattern.name not in OBJECT_OF:
            continue
        kind = OBJECT_OF[pattern.name] if isinstance(OBJECT_OF[pattern.name], str) else None
        if kind in GLOBAL_FOR and role in GLOBAL_FOR[kind]:
            continue
        for side in _sides_for(role, kind):
            kwargs = world.kwargs(pattern, side)
            if kwargs is None:
                continue  # bob's household has no such object (firm-level kinds)
            url = _reverse(pattern, kwargs)
            for method in ("GET", "POST", "PATCH"):
                client = _client(role, pattern, world, make_token)
                response = _request(client, method, url)
                body = _body(response) if response.status_code < 300 or response.status_code >= 400 else ""
                shown = [m for m in world.markers[side] if m and m in body]
                if response.status_code >= 500:
                    problems.append(f"{method} {url} as {role}: {response.status_code} (server error)")
                elif shown:
                    problems.append(f"{method} {url} as {role}: {response.status_code} shows {side}'s {shown}")
                elif (
                    not _refused(response)
                    and not (pattern.name in ANSWERS_ANYONE and 200 <= response.status_code < 300)
                    and not _same_as_missing(response, pattern, kwargs, role, method, world, make_token)
                ):
                    problems.append(
                        f"{method} {url} as {role}: {response.status_code}"
                        f"{' -> ' + response.headers.get('Location', '') if 300 <= response.status_code < 400 else ''}"
                        f" for {side}'s {kind or pattern.name} (expected 404/403/401/405 or the login)"
                    )
    assert not problems, f"{len(problems)} leaks for {role}:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_pages_without_an_id_show_only_the_roles_own_data(role, world, make_token):
    problems = []
    for pattern, url in _without_an_id():
        client = _client(role, pattern, world, make_token)
        response = client.get(url)
        body = _body(response) if response.status_code < 300 else ""
        leaked = [m for side in _sides_for(role, None) for m in world.markers[side] if m in body]
        if response.status_code >= 500:
            problems.append(f"GET {url} as {role}: {response.status_code} (server error)")
        elif leaked:
            problems.append(f"GET {url} as {role}: shows {leaked}")
    assert not problems, f"{len(problems)} problems for {role}:\n" + "\n".join(problems)


def _without_an_id():
    """(pattern, url) of every pattern that takes no parameter, regex routes aside (the OIDC
    discovery document: not a page with data)."""
    for pattern in walked():
        url = "/" + pattern.route
        if not (pattern.id_params or pattern.params or "^" in url or "$" in url):
            yield pattern, url


def _server_errors(client, url: str, role: str) -> list[str]:
    """`url` asked with each of HOSTILE_QUERIES: the ones answered with a 5xx."""
    found = []
    for query in HOSTILE_QUERIES:
        status = client.get(url, query).status_code
        if status >= 500:
            found.append(f"GET {url}?{sorted(query)} as {role}: {status}")
    return found


def _reverse(pattern: Pattern, kwargs: dict[str, Any]) -> str:
    url = "/" + pattern.route
    for name, value in kwargs.items():
        url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
    assert "<" not in url, f"unfilled parameter in {url} ({pattern.name})"
    return url


#: What anyone can put in a query string: numbers past any database column (PostgreSQL's
#: bigint), negative and malformed ones, dates that are not dates, a NUL byte.
_NUMBERS = (
    *("page", "page_size", "household", "model", "account", "advisor", "security", "object_id", "user", "year"),
    *("limit", "offset", "id", "days"),
)
HOSTILE_QUERIES = [
    {name: str(2**70) for name in _NUMBERS},
    {"page": "-1", "household": "-5", "model": "x", "account": "1e9", "year": "-2000", "limit": "-1", "offset": "-1"},
    {
        "date_from": "9999-99-99",
        "date_to": "0000-00-00",
        "since": "2024-02-30T25:00",
        "until": "x",
        "as_of": "99999-01-01",
    },
    {"date_from": "9999-12-31", "date_to": "0001-01-01", "since": "9999-12-31T23:59:59", "until": "0001-01-01T00:00"},
    {"q": "\x00", "search": "a\x00b", "sort": "\x00", "dir": "\x00", "status": "\x00", "side": "\x00"},
    {"symbol": "\x00" + "A" * 5000, "field": "\x00", "user": "\x00", "object_id": "\x00", "breached": "\x00"},
    {"after": "\x00", "next": "99999999999999999999999:-1", "part": "\x00", "export": "\x00", "show": "\x00"},
    {"after": str(2**70), "job": "\x00", "export": "xlsx", "page": "last"},
]


@pytest.mark.parametrize("role", ROLES)
def test_no_query_string_makes_a_page_without_an_id_fail(role, world, make_token):
    """Every page and list without an id, as every role, with each hostile query string: a 4xx,
    a redirect or the page -- never a 5xx (a 500 here once left the request's transaction aborted
    for everything after it)."""
    problems = []
    for pattern, url in _without_an_id():
        problems += _server_errors(_client(role, pattern, world, make_token), url, role)
    assert not problems, f"{len(problems)} server errors for {role}:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ["compliance", "operations"])
def test_no_query_string_makes_a_page_of_an_object_fail(role, world, make_token):
    """The same hostile query strings on every page and API read of an object the role may see
    (bob's household's, in the staff's own firm): never a 5xx."""
    problems = []
    for pattern in walked():
        if not pattern.id_params or pattern.name not in OBJECT_OF:
            continue
        kwargs = world.kwargs(pattern, "bob")
        if kwargs is None:
            continue
        problems += _server_errors(_client(role, pattern, world, make_token), _reverse(pattern, kwargs), role)
    assert not problems, f"{len(problems)} server errors for {role}:\n" + "\n".join(problems)
