"""Issue 12: the demo runs with DEBUG off; 404 and 500 are the site's own pages (its layout and
stylesheet, a vendored favicon), static files are still served, and no page lists the URLs."""

from pathlib import Path

import pytest
from django.test import Client
from django.urls import path

from kronos import urls as kronos_urls

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def test_make_run_serves_with_debug_off():
    script = (ROOT / "scripts" / "run_embedded.sh").read_text()
    assert "DEBUG=${DEBUG:-false}" in script and "DEBUG:-true" not in script


def test_a_404_is_the_sites_page_and_lists_no_urls(client, settings):
    assert settings.DEBUG is False
    answer = client.get("/no/such/page/")
    assert answer.status_code == 404
    body = answer.content.decode()
    assert "Not found" in body and 'class="topbar"' in body
    assert "/static/css/kronos.css" in body and "/static/favicon.svg" in body
    assert "URLconf" not in body and "api/v1/" not in body


def _boom(request):
    raise RuntimeError("kaboom")


# This module doubles as a URLconf for the 500 test: the project's URLs plus one that fails.
urlpatterns = [path("boom/", _boom)] + kronos_urls.urlpatterns
handler404 = kronos_urls.handler404
handler500 = kronos_urls.handler500


@pytest.mark.urls(__name__)
def test_a_500_is_the_sites_page_with_its_stylesheet_and_favicon():
    answer = Client(raise_request_exception=False).get("/boom/")
    body = answer.content.decode()
    assert answer.status_code == 500
    assert "Something went wrong" in body and 'class="topbar"' in body
    assert "/static/css/kronos.css" in body and "/static/favicon.svg" in body
    assert "kaboom" not in body and "Traceback" not in body


def test_static_files_and_the_favicon_are_served_with_debug_off(client):
    css = client.get("/static/css/kronos.css")
    assert css.status_code == 200
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 302 and redirect["Location"].endswith("favicon.svg")
    assert client.get("/static/vendor/htmx/htmx.min.js").status_code == 200
    assert client.get("/static/admin/css/base.css").status_code == 200  # the admin's, from its app


def test_every_page_links_the_favicon(verified_client, alice):
    page = verified_client(alice.user).get("/households/")
    assert b'rel="icon"' in page.content and b"/static/favicon.svg" in page.content


def test_the_favicon_is_served_before_the_second_factor(settings, client):
    """Browsers ask for /favicon.ico on the 2FA page itself: it must not bounce to the 2FA page."""
    from tests.accounts.factories import UserFactory

    settings.KRONOS_ENFORCE_2FA = True
    staff = UserFactory(email="ops-favicon@example.com", roles=["operations"], is_staff=True)
    client.force_login(staff)
    answer = client.get("/favicon.ico")
    assert answer.status_code in (301, 302)
    assert answer["Location"].endswith("/static/favicon.svg")
