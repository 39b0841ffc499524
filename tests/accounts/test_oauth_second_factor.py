"""The OAuth provider under /o/ is no way around the second factor.

For every role, a user who signed in with the password alone (no second factor yet) goes
through EVERY URL mounted under /o/ (walked from the URL resolver, so an endpoint mounted later
is in the test) with GET and POST and the parameters of a complete authorization request. For
the roles that must pass the second factor nothing may come of it: no authorization code, no
token, no OAuth client. The user-facing client and token pages of django-oauth-toolkit are not
mounted at all: only staff create clients, in the admin.

The same flow with the second factor verified (or for an investor, who needs none) does
produce a code and a token, so the test can tell the two apart.
"""

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.models import get_access_token_model, get_application_model, get_grant_model

from accounts.models import Role
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

REDIRECT_URI = "http://127.0.0.1:9999/callback"
ROLES = ("investor", "advisor", "compliance", "operations", "superuser")
NEEDS_SECOND_FACTOR = {"advisor", "compliance", "operations", "superuser"}


@pytest.fixture(autouse=True)
def _second_factor_on(settings):
    settings.KRONOS_ENFORCE_2FA = True


@pytest.fixture
def users(alice, charlie):
    return {
        "investor": charlie,
        "advisor": alice.user,
        "compliance": UserFactory(firm=alice.firm, roles=[Role.COMPLIANCE], is_staff=True),
        "operations": UserFactory(firm=alice.firm, roles=[Role.OPERATIONS], is_staff=True),
        "superuser": UserFactory(is_staff=True, is_superuser=True),
    }


@pytest.fixture
def application(db):
    """A client an operator made in the admin: authorization code with PKCE, a public client."""
    return get_application_model().objects.create(
        name="Integrator",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT_URI,
        skip_authorization=False,
    )


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorization_request(application, challenge: str) -> dict[str, str]:
    return {
        "client_id": application.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "read trade",
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "allow": "Authorize",
    }


def _password_login(user) -> Client:
    client = Client(raise_request_exception=False)
    answer = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert answer.status_code == 302, f"{user.email} could not sign in"
    return client


def _mounted_oauth_routes() -> list[str]:
    """Every route under /o/, with path parameters filled in."""

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry, route)
            elif isinstance(entry, URLPattern):
                yield route

    routes = []
    for route in walk(get_resolver()):
        if not route.startswith("o/"):
            continue
        filled = re.sub(r"<[^>]+>", "x", route)  # any path parameter: a value that exists nowhere
        filled = filled.replace("^", "").replace("$", "").replace("\\", "").replace("/?", "/")
        routes.append("/" + filled)
    return routes


def _code_from(answer) -> str | None:
    if answer.status_code not in (301, 302, 303):
        return None
    location = answer.headers.get("Location", "")
    if not location.startswith(REDIRECT_URI):
        return None
    return parse_qs(urlparse(location).query).get("code", [None])[0]


def test_the_walk_finds_the_endpoints_integrators_use():
    routes = set(_mounted_oauth_routes())
    assert {"/o/authorize/", "/o/token/", "/o/revoke_token/", "/o/introspect/"} <= routes


@pytest.mark.parametrize(
    "path",
    [
        "/o/applications/",
        "/o/applications/register/",
        "/o/authorized_tokens/",
        "/o/register/",
        "/o/device/",
        "/o/device-authorization/",
        "/o/userinfo/",
    ],
)
def test_no_user_facing_client_or_token_management_is_mounted(path, users, application):
    with pytest.raises(Resolver404):
        resolve(path)
    for role in ROLES:
        client = _password_login(users[role])
        for method in ("get", "post"):
            answer = getattr(client, method)(path, {"name": "Mine", "client_type": "confidential"})
            refused = answer.status_code == 404 or answer.headers.get("Location", "").startswith("/accounts/2fa/")
            assert refused, f"{method.upper()} {path} as {role}: {answer.status_code}"
    assert get_application_model().objects.count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_no_path_from_the_password_alone_to_a_token(role, users, application):
    user = users[role]
    client = _password_login(user)
    verifier, challenge = _pkce()
    params = _authorization_request(application, challenge)
    codes, server_errors = [], []
    for path in _mounted_oauth_routes():
        for method in ("get", "post"):
            answer = getattr(client, method)(path, params)
            if answer.status_code >= 500:
                server_errors.append(f"{method.upper()} {path}: {answer.status_code}")
            code = _code_from(answer)
            if code:
                codes.append(code)
    for code in codes:
        client.post(
            "/o/token/",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": application.client_id,
                "code_verifier": verifier,
            },
        )
    issued = get_access_token_model().objects.filter(user=user).count()
    granted = get_grant_model().objects.filter(user=user).count()
    if role in NEEDS_SECOND_FACTOR:
        assert (codes, granted, issued) == ([], 0, 0), f"{role} got a code or token with the password alone"
        # ...and the authorization page sends them to the second factor, coming back to it afterwards.
        answer = client.get("/o/authorize/", params)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/accounts/2fa/?next=")
        back = parse_qs(urlparse(answer.headers["Location"]).query)["next"][0]
        assert parse_qs(urlparse(back).query)["client_id"] == [application.client_id]
    else:
        # An investor needs no second factor: the same walk does get a token, which shows the walk can find one.
        assert codes and issued == 1
    assert get_application_model().objects.count() == 1
    assert not server_errors


@pytest.mark.parametrize("role", sorted(NEEDS_SECOND_FACTOR))
def test_with_the_second_factor_the_authorization_code_flow_works(role, users, application):
    user = users[role]
    client = _password_login(user)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    verifier, challenge = _pkce()
    answer = client.post("/o/authorize/", _authorization_request(application, challenge))
    code = _code_from(answer)
    assert code, answer.headers.get("Location")
    token = client.post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": application.client_id,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.content
    bearer = token.json()["access_token"]
    me = Client().get("/api/v1/me/", headers={"Authorization": f"Bearer {bearer}"})
    assert me.status_code == 200 and me.json()["email"] == user.email
