"""The read cache: a repeated read is served without recomputing it; every write that names its
scope (each audited write through its history row, a price import, a COPY) makes that firm's
answers (or, for reference data, everyone's) stale, and only those. No SQL is watched and no
security lookup is cached. The whole suite runs with the cache on, so every write-then-read test
also guards it; these tests pin the cases that need real commits from another connection."""

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.services import system_user
from kronos import readcache
from portfolios import services as portfolio_services
from tests.trading.factories import account_with, make_security


def _in_another_connection(fn):
    """Run `fn` in a thread (its own connection, autocommit), as another request or worker would."""
    failure: list[BaseException] = []

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the test
            failure.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if failure:
        raise failure[0]


@pytest.fixture
def account(alice_household):
    make_security("AAPL", "150")
    return account_with(alice_household, cash="1000.00", positions=[("AAPL", "10", "100")])


@pytest.fixture
def other_firm_advisor(db):
    from tests.accounts.factories import AdvisorFactory

    return AdvisorFactory(user__email="dora@example.com", user__full_name="Dora Advisor")


def _value(client, pk):
    answer = client.get(f"/api/v1/accounts/{pk}/")
    assert answer.status_code == 200
    return answer.json()


@pytest.mark.django_db
def test_a_repeated_read_is_answered_from_the_cache_with_the_same_answer(api, alice, account):
    client = api(alice.user)
    with CaptureQueriesContext(connection) as first:
        miss = client.get("/api/v1/accounts/")
    with CaptureQueriesContext(connection) as second:
        hit = client.get("/api/v1/accounts/")
    assert hit.json() == miss.json()
    assert len(second) < len(first)
    assert not any("portfolios_" in q["sql"] for q in second.captured_queries)  # only the token check ran


@pytest.mark.django_db
def test_a_write_in_the_same_transaction_is_read_back(api, alice, account):
    client = api(alice.user)
    assert _value(client, account.pk)["name"] == account.name
    portfolio_services.account_update(account=account, name="Renamed", acting_user=alice.user)
    assert _value(client, account.pk)["name"] == "Renamed"


@pytest.mark.django_db(transaction=True)
def test_writes_committed_by_another_connection_are_seen_on_the_next_read(api, alice, account):
    client = api(alice.user)
    before = _value(client, account.pk)
    assert before["market_value"]["amount"] == "2500.00"  # 10 AAPL at 150 + 1,000.00 cash

    # A service in another connection (a web request or a worker) renames the account.
    _in_another_connection(
        lambda: portfolio_services.account_update(account=account, name="Renamed elsewhere", acting_user=system_user())
    )
    assert _value(client, account.pk)["name"] == "Renamed elsewhere"

    # A price import (COPY into a temporary table, then INSERT ... ON CONFLICT) moves the value.
    _in_another_connection(
        lambda: portfolio_services.prices_store(rows=[{"symbol": "AAPL", "date": date.today(), "close": "160"}])
    )
    assert _value(client, account.pk)["market_value"]["amount"] == "2600.00"

    # A write through the ORM outside any service still leaves a history row: noticed too.
    _in_another_connection(lambda: type(account).objects.get(pk=account.pk).save())
    assert _value(client, account.pk)["name"] == "Renamed elsewhere"


@pytest.mark.django_db(transaction=True)
def test_one_firms_writes_leave_another_firms_answers_cached(api, alice, account, other_firm_advisor):
    """The version is per firm: a busy firm's writes do not make another firm's reads compute."""
    other = api(other_firm_advisor.user)
    other.get("/api/v1/accounts/")
    with CaptureQueriesContext(connection) as hit:
        other.get("/api/v1/accounts/")
    assert not any("portfolios_investmentaccount" in q["sql"] for q in hit.captured_queries)

    _in_another_connection(
        lambda: portfolio_services.account_update(account=account, name="Alice's firm", acting_user=system_user())
    )
    with CaptureQueriesContext(connection) as still:
        other.get("/api/v1/accounts/")
    assert not any("portfolios_investmentaccount" in q["sql"] for q in still.captured_queries)
    assert _value(api(alice.user), account.pk)["name"] == "Alice's firm"  # and alice's own is fresh


def test_every_audited_model_names_its_firm_for_the_read_cache():
    """A model whose writes touched SHARED would make every firm's answers stale on each write."""
    from django.apps import apps

    from kronos.readcache import scopes

    audited = {
        m._meta.label for m in apps.get_models() if hasattr(m, "history") and not m.__name__.startswith("Historical")
    }
    assert audited - set(scopes._resolvers) == set()


@pytest.mark.django_db(transaction=True)
def test_a_bulk_copy_committed_elsewhere_is_seen_on_the_next_read(api, alice, account):
    """COPY goes around Django's cursor wrapper; the one COPY helper moves the version itself."""
    client = api(alice.user)
    msft = make_security("MSFT", "100")

    def held():  # the positions are read from the rows (the kept figures move with the ledger, not a raw COPY)
        answer = client.get(f"/api/v1/accounts/{account.pk}/positions/")
        assert answer.status_code == 200
        return {p["symbol"]: p["quantity"] for p in answer.json()}

    assert "MSFT" not in held()

    def copy_a_position():
        from django.db import transaction
        from django.utils import timezone

        with transaction.atomic():
            readcache.copy_rows(
                "portfolios_position",
                ["account_id", "security_id", "quantity", "updated_at"],
                [(account.pk, msft.pk, Decimal("5"), timezone.now())],
            )

    _in_another_connection(copy_a_position)
    assert held()["MSFT"].startswith("5")
    with connection.cursor() as cursor:  # the bare row has no ledger behind it: the book checks would fail
        cursor.execute("DELETE FROM portfolios_position WHERE security_id = %s", [msft.pk])


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_leaves_the_cached_answer_standing(api, alice, account):
    client = api(alice.user)
    _value(client, account.pk)
    version = readcache.version(readcache.firm_scope(alice.firm.pk))

    def rolled_back():
        from django.db import transaction

        with pytest.raises(RuntimeError), transaction.atomic():
            portfolio_services.account_update(account=account, name="Never", acting_user=system_user())
            raise RuntimeError("abandon")

    _in_another_connection(rolled_back)
    assert readcache.version(readcache.firm_scope(alice.firm.pk)) == version
    assert _value(client, account.pk)["name"] == account.name


@pytest.mark.django_db
def test_each_user_has_their_own_answers(api, alice, bob, account):
    assert api(alice.user).get(f"/api/v1/accounts/{account.pk}/").status_code == 200  # now cached for alice
    assert api(bob.user).get(f"/api/v1/accounts/{account.pk}/").status_code == 404
    assert api(bob.user).get("/api/v1/accounts/").json()["count"] == 0


@pytest.mark.django_db
def test_reads_go_to_the_database_when_the_cache_is_down(api, alice, account, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "get_or_lock", down)
    assert _value(api(alice.user), account.pk)["name"] == account.name


@pytest.mark.django_db
def test_nothing_is_cached_when_the_cache_is_off(api, alice, account, settings):
    settings.READ_CACHE_SECONDS = 0
    client = api(alice.user)
    client.get("/api/v1/accounts/")
    with CaptureQueriesContext(connection) as again:
        client.get("/api/v1/accounts/")
    assert any("portfolios_investmentaccount" in q["sql"] for q in again.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_the_book_and_household_pages_show_a_write_committed_elsewhere(verified_client, alice, account):
    client = verified_client(alice.user)
    assert account.name in client.get("/book/").content.decode()
    assert "Alvarez Household" in client.get("/households/").content.decode()
    assert "Income Ladder" not in client.get("/book/").content.decode()

    def rename():
        from accounts import services as account_services

        portfolio_services.account_update(account=account, name="Renamed in the book", acting_user=system_user())
        account_services.household_update(
            household=account.household, name="Renamed household", acting_user=system_user()
        )
        portfolio_services.model_portfolio_create(  # a new choice in the book's model filter
            firm=alice.firm, name="Income Ladder", risk_level=3, targets={"AAPL": "1"}, acting_user=system_user()
        )

    _in_another_connection(rename)
    book = client.get("/book/").content.decode()
    assert "Renamed in the book" in book and ">Income Ladder</option>" in book
    assert "Renamed household" in client.get("/households/").content.decode()
    # the htmx swap of the table alone is kept apart from the whole page
    table = client.get("/book/", HTTP_HX_REQUEST="true").content.decode()
    assert table.lstrip().startswith('<div id="book-table">') and "Renamed in the book" in table


@pytest.mark.django_db(transaction=True)
def test_a_revoked_token_or_a_deactivated_user_is_refused_on_the_next_request(make_token, alice):
    from oauth2_provider.models import get_access_token_model
    from rest_framework.test import APIClient

    raw = make_token(alice.user, "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/me/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200

    token_id = get_access_token_model().objects.get(user=alice.user).pk
    _in_another_connection(lambda: get_access_token_model().objects.filter(pk=token_id).delete())
    assert client.get("/api/v1/me/").status_code == 401

    other = make_token(alice.user, "read")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other}")
    assert client.get("/api/v1/me/").status_code == 200
    _in_another_connection(lambda: type(alice.user).objects.filter(pk=alice.user.pk).update(is_active=False))
    assert client.get("/api/v1/me/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_users_role_change_or_deactivation_counts_on_the_next_page(verified_client, alice):
    from django.contrib.auth.models import Group

    client = verified_client(alice.user)
    assert client.get("/book/").status_code == 200
    assert client.get("/book/").status_code == 200  # the page now comes from the cache: roles are in its key

    # Operations take the advisor role away: the book is for advisors and staff only.
    _in_another_connection(lambda: alice.user.groups.remove(Group.objects.get(name="advisor")))
    assert client.get("/book/").status_code == 302

    _in_another_connection(lambda: type(alice.user).objects.filter(pk=alice.user.pk).update(is_active=False))
    answer = client.get("/households/")
    assert answer.status_code == 302 and "/login" in answer["Location"]


def test_the_cache_shares_one_redis_client_per_pool():
    from django.core.cache import caches

    backend = caches["default"]._cache
    assert backend.get_client("a") is backend.get_client("b")
    caches["default"].set("kronos-test-shared-client", 1, 10)
    assert caches["default"].get("kronos-test-shared-client") == 1


@pytest.mark.django_db(transaction=True)
def test_a_page_is_served_whole_from_the_cache_with_this_sessions_csrf_token(verified_client, alice, account):
    from django.test import Client

    client = verified_client(alice.user)
    first = client.get("/book/")
    with CaptureQueriesContext(connection) as again:
        second = client.get("/book/")
    assert second.status_code == 200 and account.name in second.content.decode()
    # The security lookups are read fresh (the user with their roles, their device); the page, none.
    tables = [q["sql"].split(".", 1)[0].removeprefix("SELECT ") for q in again.captured_queries]
    assert tables == ['"accounts_user"', '"otp_totp_totpdevice"'], tables
    assert '"auth_group"' in again.captured_queries[0]["sql"]  # the roles, in the user's query
    placeholder = readcache.csrf_placeholder_text()
    assert placeholder not in first.content.decode() and placeholder not in second.content.decode()
    assert 'name="csrfmiddlewaretoken"' in second.content.decode()
    assert "HX-Request" in second["Vary"]
    assert client.head("/households/").status_code == 200  # HEAD is answered too (not cached)

    # Another browser of the same user (its own session and CSRF cookie) gets the copy the first
    # one cached, with a token of its own that works: the logout form posted with it (CSRF
    # checks on) signs that session out, and the first browser stays signed in.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    other = Client(enforce_csrf_checks=True)
    other.force_login(alice.user, backend="kronos.auth.CachedModelBackend")
    session = other.session
    session["otp_device_id"] = TOTPDevice.objects.get(user=alice.user).persistent_id
    session.save()
    client.get("/households/")  # cached by the first browser (the login moved the version)
    with CaptureQueriesContext(connection) as served:
        page = other.get("/households/")
    assert page.status_code == 200 and len(served.captured_queries) == 2  # the security lookups; the cached copy
    html = page.content.decode()
    assert placeholder not in html
    token = html.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert other.post("/accounts/logout/").status_code == 403
    assert other.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert other.get("/households/").status_code == 302  # signed out
    assert client.get("/households/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_flash_message_is_shown_once_and_a_revoked_device_counts_on_the_next_page(
    verified_client, alice, alice_household
):
    from django.contrib.messages import constants
    from django.contrib.messages.storage.base import Message
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.http import HttpRequest
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = verified_client(alice.user)
    client.get("/households/")
    assert client.get("/households/").status_code == 200  # from the cache
    # A message waiting for the next page (as after a redirect), with nothing changed in the data:
    # the cached list must not swallow it, and the page after it no longer shows it.
    client.cookies["messages"] = CookieStorage(HttpRequest())._encode([Message(constants.SUCCESS, "Household saved.")])
    assert "Household saved." in client.get("/households/").content.decode()
    assert "Household saved." not in client.get("/households/").content.decode()

    client.get("/households/")
    _in_another_connection(lambda: TOTPDevice.objects.filter(user=alice.user).delete())
    answer = client.get("/households/")
    assert answer.status_code == 302 and "/accounts/2fa/" in answer["Location"]


@pytest.mark.django_db
def test_readers_that_miss_together_share_one_computation():
    """After a write, the requests in flight for one answer wait for the first one's
    computation instead of each asking the database."""
    readcache.bump(readcache.SHARED)
    started, release, calls, answers = threading.Event(), threading.Event(), [], []

    def compute():
        calls.append(1)
        started.set()
        release.wait(5)
        return {"total": Decimal("12.34")}

    def first():
        answers.append(readcache.cached("test-single-flight", compute))

    def second():
        started.wait(5)  # the first reader is computing
        answers.append(readcache.cached("test-single-flight", compute))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    started.wait(5)
    release.set()
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert answers == [{"total": Decimal("12.34")}] * 2


@pytest.mark.django_db
def test_a_reader_waiting_on_an_answer_that_is_not_kept_computes_it_itself():
    readcache.bump(readcache.SHARED)
    started, release, calls, answers = threading.Event(), threading.Event(), [], []

    def not_kept():
        calls.append("first")
        started.set()
        release.wait(5)
        return None

    def first():
        answers.append(readcache.cached("test-not-kept", not_kept, store=bool))

    def second():
        started.wait(5)
        answers.append(readcache.cached("test-not-kept", lambda: calls.append("second") or "computed", store=bool))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    started.wait(5)
    time.sleep(0.05)  # the second reader is waiting
    release.set()
    for t in threads:
        t.join(10)
    assert sorted(calls) == ["first", "second"]
    assert sorted(answers, key=str) == [None, "computed"]


@pytest.mark.django_db
def test_an_answer_costs_redis_three_round_trips_computed_and_two_from_the_cache(api, alice, account, monkeypatch):
    """Computed after a write: the rate limit (one pipeline), the versions with the
    answer-or-lock (one script) and the answer kept with the lock released (one pipeline); from
    the cache: the rate limit, and the versions with the answer. The JSON is rendered once."""
    from redis.connection import Connection
    from rest_framework.renderers import JSONRenderer

    sends, renders = [], []
    send = Connection.send_packed_command
    render = JSONRenderer.render
    monkeypatch.setattr(Connection, "send_packed_command", lambda self, *a, **k: sends.append(1) or send(self, *a, **k))
    monkeypatch.setattr(JSONRenderer, "render", lambda self, *a, **k: renders.append(1) or render(self, *a, **k))
    client = api(alice.user)
    client.get("/api/v1/accounts/")  # the throttle's and the token's first use
    readcache.bump(readcache.SHARED)
    sends.clear(), renders.clear()
    computed = client.get(f"/api/v1/accounts/{account.pk}/positions/")
    computed_sends, computed_renders = len(sends), len(renders)
    sends.clear(), renders.clear()
    hit = client.get(f"/api/v1/accounts/{account.pk}/positions/")
    assert computed.status_code == hit.status_code == 200
    assert computed.content == hit.content and computed["Content-Type"] == hit["Content-Type"]
    assert [row["symbol"] for row in hit.json()] == ["AAPL"]
    assert (computed_sends, computed_renders) == (3, 1)
    assert (len(sends), len(renders)) == (2, 0)


def test_a_page_computed_for_the_cache_asks_redis_for_the_page_alone(verified_client, alice, account, monkeypatch):
    """The book computed after a write: the session, the versions with the page-or-lock (one
    script) and the page kept with the lock released (one pipeline); its parts (the model filter's names, the
    table) are computed with it, not looked up and kept apart. A render that skips the page's
    cache (a flash message waiting) still keeps its parts, and the next such render uses them."""
    from django.contrib.messages import constants
    from django.contrib.messages.storage.base import Message
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.http import HttpRequest
    from redis.connection import Connection

    sends = []
    send = Connection.send_packed_command
    monkeypatch.setattr(Connection, "send_packed_command", lambda self, *a, **k: sends.append(1) or send(self, *a, **k))
    client = verified_client(alice.user)
    client.get("/book/")
    readcache.bump(readcache.SHARED)
    sends.clear()
    with CaptureQueriesContext(connection) as computed:
        page = client.get("/book/")
    assert page.status_code == 200 and account.name in page.content.decode()
    assert len(sends) == 3
    assert any("portfolios_modelportfolio" in q["sql"] for q in computed.captured_queries)

    flash = CookieStorage(HttpRequest())._encode([Message(constants.SUCCESS, "Saved.")])
    client.cookies["messages"] = flash
    assert "Saved." in client.get("/book/").content.decode()  # rendered fresh, its parts kept
    client.cookies["messages"] = flash
    with CaptureQueriesContext(connection) as again:
        assert "Saved." in client.get("/book/").content.decode()
    assert not any("portfolios_" in q["sql"] for q in again.captured_queries)  # the parts, from the cache


@pytest.mark.django_db
def test_the_versions_read_with_an_answer_are_the_versions(settings):
    """The first cached read takes the versions with the answer (one script): a version lost to
    eviction is seeded there as `versions()` seeds it, the answer is filed under the versions
    then current, found again under them, and missed once one of them moves."""
    from kronos.readcache.versions import database_scope, version_key

    settings.READ_CACHE_SECONDS = 30
    scopes = (readcache.SHARED, "firm:424242")
    for scope in scopes:
        cache.delete(version_key(scope))
    computed = []
    first = readcache.cached("probe", lambda: computed.append(1) or "answer", scopes=scopes)
    seeded = readcache.versions(scopes)
    assert first == "answer" and len(computed) == 1 and all(v > 0 for v in seeded)
    stamp = ".".join(str(v) for v in seeded)
    assert cache.get(f"kronos:read:{database_scope()}:{':'.join(scopes)}:{stamp}:probe") == "answer"
    assert readcache.cached("probe", lambda: computed.append(1) or "again", scopes=scopes) == "answer"
    readcache.bump("firm:424242")
    assert readcache.cached("probe", lambda: computed.append(1) or "again", scopes=scopes) == "again"
    assert len(computed) == 2
