"""The navigation: its links by role are rendered once per set of roles (kronos_nav), so each
user must still see exactly their roles' links, and a role given or taken counts on the next page."""

import pytest
from django.contrib.auth.models import Group

from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def _nav(client) -> str:
    page = client.get("/households/").text
    return page[page.index('<nav class="nav"') : page.index("</nav>")]


def test_each_role_sees_its_own_links_and_a_new_role_counts_at_once(verified_client, alice, charlie):
    from django.test import Client

    advisor = verified_client(alice.user)
    nav = _nav(advisor)
    assert ">Book<" in nav and ">Blotter<" in nav and "My accounts" not in nav and "Jobs &amp; billing" not in nav
    other = Client()  # verified_client's is the test's one client
    other.force_login(charlie)
    investor = _nav(other)
    assert "My accounts" in investor and ">Book<" not in investor and ">Blotter<" not in investor
    assert _nav(advisor) == nav  # the advisor's links again, not the investor's last rendering
    alice.user.groups.add(Group.objects.get(name="operations"))
    with_ops = _nav(advisor)
    assert "Jobs &amp; billing" in with_ops and ">Book<" in with_ops
    alice.user.groups.remove(Group.objects.get(name="operations"))
    assert _nav(advisor) == nav


def test_the_admin_link_and_the_inbox_are_the_users_own(verified_client, alice):
    """Staff see the admin link; the unread count is read for each page."""
    staff = UserFactory(email="ops@example.com", roles=["operations"], firm=alice.firm, is_staff=True)
    assert "/admin/" in _nav(verified_client(staff))
    assert "/admin/" not in _nav(verified_client(alice.user))
