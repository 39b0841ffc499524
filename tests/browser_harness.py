"""Browser tests' fixtures, loaded for the whole suite by tests/conftest.py (`pytest_plugins`),
so every app's browser tests share ONE Chromium session.

Headless system Chromium (Playwright) against pytest-django's live server.

- Never downloads a browser: Playwright drives /usr/bin/chromium (override with
  KRONOS_CHROMIUM). When it is missing the browser tests fail (CI must never pass without
  them); KRONOS_SKIP_BROWSER=1 skips them on purpose, on a developer's machine without Chromium.
- The live server runs on a transactional database, so data made in a test is visible to it.
- `login(user)` signs in through the real login page and then passes the real second factor:
  it enrols a TOTP device for the user and types the current code computed with django_otp's
  `totp()` — the same path an advisor takes, no setting switched off.
- Mark tests `@pytest.mark.browser`; `make test-fast` leaves them out.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KRONOS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in this thread; Django must allow ORM calls from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def chromium() -> str:
    """The browser's path; a missing one fails the browser tests unless KRONOS_SKIP_BROWSER=1."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("KRONOS_SKIP_BROWSER") == "1":
            pytest.skip(f"no Chromium at {CHROMIUM} (KRONOS_SKIP_BROWSER=1)")
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (scripts/ensure_services.sh does, as root), "
            "point KRONOS_CHROMIUM at one, or set KRONOS_SKIP_BROWSER=1 to skip the browser tests on purpose"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def browser():
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def roles(transactional_db):
    """The role groups: a transactional test's flush empties the table the data migration filled."""
    from django.contrib.auth.models import Group

    from accounts.models import Role

    for role in Role:
        Group.objects.get_or_create(name=role)


@pytest.fixture
def login(page, roles):
    """Sign `user` in through the login page and, for staff, the TOTP step; returns the page."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.accounts.factories import PASSWORD

    def sign_in(user, password=PASSWORD):
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.email)
        page.fill("input[name=password]", password)
        page.click("button:has-text('Log in')")
        page.wait_for_load_state()
        if "/accounts/2fa/" in page.url:
            device = TOTPDevice.objects.filter(user=user).order_by("-id").first()
            if device is None:  # pragma: no cover - the 2FA page creates it on the first visit
                device = TOTPDevice.objects.create(user=user, name="browser", confirmed=False)
            code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
            page.fill("input[name=token]", f"{code:0{device.digits}d}")
            page.click("button:has-text('Verify')")
            page.wait_for_load_state()
        assert "/accounts/login/" not in page.url and "/accounts/2fa/" not in page.url, page.content()[:2000]
        return page

    return sign_in
