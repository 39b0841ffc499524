"""Suite-wide test setup: fast hashing, in-memory email, a clean cache per test, and the
three users of the permission tests (alice and bob are advisors in one firm, charlie an
investor in one of alice's households)."""

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache

from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory, UserFactory

# The browser harness (one Chromium for the session, live server, login through the real pages).
pytest_plugins = ["tests.browser_harness"]


def pytest_configure(config: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Parallel runs (pytest -n): each worker its own Redis database for the cache, since every
    # test starts by emptying it (see _clean_cache) and one worker must not empty another's.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    location = settings.CACHES["default"].get("LOCATION", "")
    if worker.startswith("gw") and isinstance(location, str) and location.startswith("redis://"):
        base, _, _ = location.rpartition("/")
        settings.CACHES["default"]["LOCATION"] = f"{base}/{10 + int(worker[2:]) % 6}"


@pytest.hookimpl(trylast=True)  # after pytest-django's ordering (database tests, then transactional ones)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The firm simulation first: the suite's longest test (minutes) in its own database
    (tests/simulation/test_simulate_firm.py). Under xdist the first worker starts with it while
    the others take the rest, instead of it starting late and running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("simulation") is None)


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttles and locks live in the cache (Redis in the suite): start each test empty, and
    with Redis considered reachable (a degraded-mode test must not leak its breaker state)."""
    from kronos import cache as kcache

    kcache.reset_for_tests()
    cache.clear()
    yield


@pytest.fixture
def override_checks() -> Iterator[Callable[..., None]]:
    """`override_checks(SLOT, *checks)`: this test runs with exactly `checks` in a slot of
    kronos/checks_registry.py (none: the control is off, said here explicitly); restored after."""
    with ExitStack() as stack:

        def override(slot: Any, *checks: Any) -> None:
            stack.enter_context(slot.override(*checks))

        yield override


@pytest.fixture
def alice(db):
    return AdvisorFactory(user__email="alice@example.com", user__full_name="Alice Advisor")


@pytest.fixture
def bob(db, alice):
    return AdvisorFactory(user__email="bob@example.com", user__full_name="Bob Advisor", firm=alice.firm)


@pytest.fixture
def alice_household(alice):
    return HouseholdFactory(advisor=alice, firm=alice.firm, name="Alvarez Household")


@pytest.fixture
def bob_household(bob):
    return HouseholdFactory(advisor=bob, firm=bob.firm, name="Bennett Household")


@pytest.fixture
def charlie(alice_household):
    """An investor with a login, member of alice's household."""
    user = UserFactory(email="charlie@example.com", full_name="Charlie Investor", roles=["investor"])
    InvestorFactory(
        user=user, firm=alice_household.firm, households=[alice_household], first_name="Charlie", last_name="Investor"
    )
    return user


@pytest.fixture
def uncached(settings):
    """The read cache off (kronos/readcache/): for tests that count the queries of the
    database path, which hits of the cache (the session's user, a repeated read) would hide."""
    settings.READ_CACHE_SECONDS = 0


@pytest.fixture
def verified_client(client):
    """A test client whose login also passes the second factor (as a staff user would)."""

    def login(user):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        client.force_login(user, backend="kronos.auth.CachedModelBackend")  # as the login form's sessions
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
        return client

    return login


@pytest.fixture
def make_token(db):
    """A bearer token for a user with the given scopes, as `create_api_token` makes."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value

    def make(user, scopes="read"):
        app, _ = get_application_model().objects.get_or_create(
            name="tests", defaults={"client_type": "confidential", "authorization_grant_type": "client-credentials"}
        )
        raw = secrets.token_urlsafe(24)
        token = get_access_token_model()(
            user=user, application=app, scope=scopes, expires=timezone.now() + timedelta(hours=1)
        )
        set_token_value(token, raw)  # hashed at rest, as in production
        token.save()
        return raw

    return make


@pytest.fixture
def api(make_token):
    """An API client authenticated as `user` with a bearer token of the given scopes."""
    from rest_framework.test import APIClient

    def client_for(user, scopes="read trade"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, scopes)}")
        return client

    return client_for


@pytest.fixture(autouse=True)
def _ledger_balances_after_every_test(request):
    """Every test that touched the database leaves the ledger consistent: each entry sums to
    zero per asset, and every position and cash balance equals the sum of its postings."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if not uses_db or request.node.get_closest_marker("unbalanced_ledger"):
        yield
        return
    request.getfixturevalue("_django_db_helper")  # tear down before the database is rolled back
    _restore_migration_data()
    yield
    from portfolios.ledger import verify

    problems = verify()
    assert not problems, "ledger out of balance after the test:\n" + "\n".join(problems[:20])


def _restore_migration_data():
    """A transactional test ends with a flush, which empties what the data migrations wrote: the
    role groups and their permissions, the beat schedule. A later test on the same worker (xdist
    deals tests out in no fixed order) would find none of it, so it is put back by replaying the
    project's data migrations in migration order (each step is idempotent: running it again changes nothing).
    Schema-only RunPython steps are marked elidable and skipped."""
    from django.apps import apps
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.operations import RunPython

    if Group.objects.exists():
        return
    root = Path(settings.BASE_DIR).resolve()
    ours = {app.label for app in apps.get_app_configs() if Path(app.path).resolve().parent == root}
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    with connection.schema_editor(atomic=True) as editor:
        for migration, _ in plan:
            if migration.app_label not in ours:
                continue
            for operation in migration.operations:
                if isinstance(operation, RunPython) and not operation.elidable:
                    operation.code(apps, editor)
