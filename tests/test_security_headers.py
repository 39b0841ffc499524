"""Every page carries the security headers, for every role; staff are signed out when idle;
the development SECRET_KEY is refused outside DEBUG."""

import time
import uuid

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Role
from kronos import security
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

#: Not pages: the API, OAuth endpoints, static files, POST-only actions; the admin's model URLs
#: want their own objects' ids (its index and login are checked below).
SKIP_PREFIXES = ("api/", "o/", "admin/", "static/", "metrics", "accounts/logout/", "webhooks/", "__")
HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options")


def page_paths(household_pk):
    """GET-able paths from the URL configuration; `<int:…>` arguments get a household's pk."""
    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                path = route.lstrip("^").rstrip("$")
                if path.startswith(SKIP_PREFIXES) or "(?P" in path or "\\" in path:
                    continue
                path = _fill(path, household_pk)
                if path is not None:
                    found.append("/" + path)

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


def _fill(path, pk):
    import re

    filled = re.sub(r"<int:\w+>", str(pk), path)
    if "<" in filled:  # slugs, tokens: no sensible value to put in
        return None
    return filled


def assert_secure_headers(answer, path):
    for header in HEADERS:
        assert header in answer.headers, f"{path} ({answer.status_code}) lacks {header}"
    csp = answer["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert answer["X-Frame-Options"] == "DENY"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Referrer-Policy"] == "same-origin"
    assert "camera=()" in answer["Permissions-Policy"]
    assert answer["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.fixture
def people(alice, charlie):
    compliance = UserFactory(email="carol@example.com", roles=[Role.COMPLIANCE], firm=alice.firm)
    operations = UserFactory(email="olga@example.com", roles=[Role.OPERATIONS], firm=alice.firm, is_staff=True)
    return {"advisor": alice.user, "investor": charlie, "compliance": compliance, "operations": operations}


@pytest.mark.parametrize("role", ["advisor", "investor", "compliance", "operations"])
def test_every_page_carries_the_security_headers_for_each_role(verified_client, people, alice_household, role):
    client = verified_client(people[role])
    paths = page_paths(alice_household.pk)
    assert "/households/" in paths
    rendered = 0
    for path in paths:
        answer = client.get(path)
        assert answer.status_code < 500, f"{path} -> {answer.status_code}"
        assert_secure_headers(answer, path)
        rendered += answer.status_code == 200
    assert rendered >= 2, f"{role}: only {rendered} pages rendered"


def test_the_login_page_and_the_admin_carry_them_too(client):
    for path in ("/accounts/login/", "/admin/login/", "/admin/", "/accounts/password-reset/"):
        answer = client.get(path, follow=True)
        assert answer.status_code == 200, path
        assert_secure_headers(answer, path)


def test_error_pages_carry_them(client):
    answer = client.get("/no-such-page/")
    assert answer.status_code == 404
    assert_secure_headers(answer, "/no-such-page/")


def test_hsts_is_sent_over_https(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    answer = client.get("/accounts/login/", secure=True)
    assert answer["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_pages_have_no_inline_script_or_handler(verified_client, alice, alice_household):
    client = verified_client(alice.user)
    for path in ("/accounts/login/", "/households/", f"/households/{alice_household.pk}/"):
        html = client.get(path).content.decode()
        for tag in html.split("<script")[1:]:
            assert tag.split(">", 1)[0].strip().find("src=") >= 0, f"inline <script> on {path}"
        assert " onclick=" not in html and " onload=" not in html


def test_htmx_is_configured_not_to_inject_styles_or_eval(client):
    html = client.get("/accounts/login/").content.decode()
    assert '"includeIndicatorStyles": false' in html
    assert '"allowEval": false' in html


# --- staff idle timeout ------------------------------------------------------------------------------


def _idle(client, seconds):
    session = client.session
    session[security.LAST_ACTIVITY_KEY] = int(time.time()) - seconds
    session.save()


def test_an_idle_advisor_is_signed_out(verified_client, alice, settings):
    settings.STAFF_IDLE_TIMEOUT_SECONDS = 1800
    client = verified_client(alice.user)
    _idle(client, 1801)
    answer = client.get("/households/")
    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/?next=/households/")
    assert "_auth_user_id" not in client.session


def test_an_active_advisor_stays_signed_in(verified_client, alice, settings):
    settings.STAFF_IDLE_TIMEOUT_SECONDS = 1800
    client = verified_client(alice.user)
    _idle(client, 1700)
    assert client.get("/households/").status_code == 200
    assert client.session[security.LAST_ACTIVITY_KEY] >= int(time.time()) - 5


def test_an_investor_is_not_held_to_the_staff_timeout(client, charlie, settings):
    settings.STAFF_IDLE_TIMEOUT_SECONDS = 1800
    client.force_login(charlie)
    _idle(client, 7200)
    assert client.get("/households/").status_code == 200


def test_an_idle_staff_session_is_refused_by_the_api(verified_client, alice, settings):
    settings.STAFF_IDLE_TIMEOUT_SECONDS = 1800
    client = verified_client(alice.user)
    _idle(client, 4000)
    assert client.get("/api/v1/households/").status_code in (401, 403)


# --- secret key ---------------------------------------------------------------------------------------


def test_the_development_key_is_an_error_outside_debug_on_a_server_database():
    with override_settings(DEBUG=False, SECRET_KEY="django-insecure-kronos-development-only-key-change-me-0123456789"):
        errors = security.check_secret_key()
    assert [e.id for e in errors] == ["kronos.E001"]


def test_a_real_key_passes():
    with override_settings(DEBUG=False, SECRET_KEY="x" * 64):
        assert security.check_secret_key() == []
        assert security.check_secret_key_deploy() == []


def test_debug_may_use_the_development_key():
    with override_settings(DEBUG=True, SECRET_KEY="django-insecure-whatever"):
        assert security.check_secret_key() == []
        assert [e.id for e in security.check_secret_key_deploy()] == ["kronos.E001"]


def test_the_api_docs_load_their_script_from_a_file(verified_client, alice):
    client = verified_client(alice.user)
    answer = client.get("/api/v1/docs/")
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "<script>" not in html
    assert "script-src 'self';" in answer["Content-Security-Policy"]
    assert client.get("/api/v1/docs/?script=").status_code == 200


# --- rate limits ------------------------------------------------------------------------------------


def test_the_token_endpoint_is_rate_limited_per_address(client, settings):
    settings.OAUTH_TOKEN_RATE = "3/min"
    # Fresh addresses: the counters live in Redis for a minute, across runs of the suite.
    first, second = (f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}" for _ in range(2))
    answers = [
        client.post("/o/token/", {"grant_type": "client_credentials"}, REMOTE_ADDR=first).status_code for _ in range(4)
    ]
    assert 429 not in answers[:3]
    assert answers[3] == 429
    # another address is not held back by the first one's guesses
    assert client.post("/o/token/", {"grant_type": "client_credentials"}, REMOTE_ADDR=second).status_code != 429


@pytest.fixture
def money_rate(monkeypatch):
    """The "money" rate at 2 a minute, under a scope name of its own so no earlier run's counter counts."""
    from rest_framework.throttling import SimpleRateThrottle

    from kronos.ratelimit import MoneyRateThrottle

    scope = f"money-{uuid.uuid4().hex}"
    monkeypatch.setattr(MoneyRateThrottle, "scope", scope)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, scope: "2/min"})


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/", "/api/v1/accounts/{account}/deposits/", "/api/v1/accounts/{account}/transfers-in/"]
)
def test_money_moving_writes_are_held_to_the_money_rate_and_reads_are_not(
    api, alice, alice_household, money_rate, path
):
    from tests.portfolios.factories import InvestmentAccountFactory

    alice_account = InvestmentAccountFactory(household=alice_household)
    client = api(alice.user)
    path = path.format(account=alice_account.pk)
    answers = [client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [400, 400]  # refused on their (empty) bodies, but counted
    assert answers[2].status_code == 429
    assert answers[2].json()["detail"]
    assert 0 < int(answers[2]["Retry-After"]) <= 60
    assert client.get("/api/v1/orders/").status_code == 200  # reading is never held back by the money rate
    # another user's writes have their own count
    other = api(alice.user.__class__.objects.create_user(email=f"{uuid.uuid4().hex}@example.com", password="x"))
    assert other.post("/api/v1/orders/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code != 429


def test_the_user_rate_counts_requests_in_a_fixed_window(api, alice, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    from kronos.ratelimit import UserRateThrottle

    scope = f"user-{uuid.uuid4().hex}"
    monkeypatch.setattr(UserRateThrottle, "scope", scope)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, scope: "3/min"})
    client = api(alice.user)
    assert [client.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
