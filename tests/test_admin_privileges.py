"""Privileges in the admin and the services are a superuser's: operations staff posting
`is_superuser=on` (and staff, roles) to their own user and to another user change nothing; a
superuser cannot change their own; a superuser can another's; firm staff give only the client role."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from accounts.models import Role, User
from tests.admin_firms import admin_url, staff_client, two_firms
from tests.roles import restore_role_permissions

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _role_permissions(db):
    restore_role_permissions()


@pytest.fixture
def firms(db):
    return two_firms()


# --- privileges ------------------------------------------------------------------------------------


def _user_form(user: User, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": user.email,
        "full_name": user.full_name,
        "firm": user.firm_id or "",
        "is_active": "on",
        "date_joined_0": "2026-01-02",
        "date_joined_1": "09:00:00",
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(changes)
    return data


def _privileges(user: User) -> tuple[bool, bool, set[str], int]:
    user = User.objects.get(pk=user.pk)
    return (
        user.is_superuser,
        user.is_staff,
        set(user.groups.values_list("name", flat=True)),
        user.user_permissions.count(),
    )


ESCALATION = {
    "is_superuser": "on",
    "is_staff": "on",
    "groups": [],  # filled with every role's group in the tests
    "user_permissions": [],
}


def _escalation() -> dict[str, Any]:
    return dict(
        ESCALATION,
        groups=list(Group.objects.values_list("pk", flat=True)),
        user_permissions=list(Permission.objects.filter(codename="change_user").values_list("pk", flat=True)),
    )


def test_operations_staff_cannot_make_themselves_or_anyone_superuser(firms):
    a, _ = firms
    ops = a["operations"]
    colleague = a["compliance"]
    client = staff_client(ops)
    for target in (ops, colleague):
        before = _privileges(target)
        answer = client.post(
            admin_url(User, f"{target.pk}/change/"), _user_form(target, full_name="Renamed", **_escalation())
        )
        assert answer.status_code in (302, 403), answer.status_code
        assert _privileges(target) == before, target.email
    page = client.get(admin_url(User, f"{ops.pk}/change/")).text
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page


def test_operations_staff_cannot_touch_a_superuser_of_their_firm(firms):
    a, _ = firms
    root = User.objects.create_superuser(email="root@example.com", password="x", firm=a["firm"])  # noqa: S106
    client = staff_client(a["operations"])
    assert client.post(admin_url(User, f"{root.pk}/change/"), _user_form(root, is_active="")).status_code == 403
    assert client.post(
        admin_url(User, f"{root.pk}/password/"), {"password1": "Taken-over-42!", "password2": "Taken-over-42!"}
    ).status_code in (403, 404)
    root.refresh_from_db()
    assert root.is_active and root.check_password("x")


def test_a_superuser_cannot_change_their_own_privileges_but_can_anothers(firms):
    a, _ = firms
    root = User.objects.create_superuser(email="root@example.com", password="x", firm=a["firm"])  # noqa: S106
    client = staff_client(root)
    before = _privileges(root)
    client.post(
        admin_url(User, f"{root.pk}/change/"),
        _user_form(root, is_superuser="", is_staff="", groups=[Group.objects.get(name=Role.ADVISOR).pk]),
    )
    assert _privileges(root) == before
    other = a["compliance"]
    answer = client.post(
        admin_url(User, f"{other.pk}/change/"),
        _user_form(other, is_staff="on", groups=[Group.objects.get(name=Role.OPERATIONS).pk]),
    )
    assert answer.status_code == 302
    assert _privileges(other)[2] == {Role.OPERATIONS}


def test_the_user_admin_refuses_a_changed_flag_on_save_whatever_the_form(firms):
    """The server-side refusal behind the read-only fields: save_model and save_related check."""
    a, _ = firms
    ops = a["operations"]
    model_admin = admin.site._registry[User]
    request = RequestFactory().post("/admin/")
    request.user = ops
    target = User.objects.get(pk=a["compliance"].pk)
    target.is_superuser = True
    with pytest.raises(PermissionDenied):
        model_admin.save_model(request, target, form=None, change=True)
    assert not User.objects.get(pk=target.pk).is_superuser


def test_services_grant_roles_only_for_a_superuser_and_never_to_themselves(firms):
    from accounts.errors import AccountsError
    from accounts.services import advisor_create, system_user, user_create

    a, _ = firms
    ops = a["operations"]
    with pytest.raises(AccountsError, match="Only a superuser"):
        user_create(email="new@example.com", password="x", roles=[Role.OPERATIONS], firm=a["firm"], acting_user=ops)
    with pytest.raises(AccountsError, match="Only a superuser"):
        user_create(email="new@example.com", password="x", is_staff=True, acting_user=ops)
    with pytest.raises(AccountsError, match="Only a superuser"):
        advisor_create(user=ops, firm=a["firm"], acting_user=ops)
    root = User.objects.create_superuser(email="root@example.com", password="x")  # noqa: S106
    with pytest.raises(AccountsError, match="not to themselves"):
        advisor_create(user=root, firm=a["firm"], acting_user=root)
    made = user_create(email="new@example.com", password="x", roles=[Role.COMPLIANCE], acting_user=root)
    assert made.roles == {Role.COMPLIANCE}
    assert user_create(email="job@example.com", password="x", roles=[Role.ADVISOR], acting_user=system_user()).roles


def test_firm_staff_give_only_the_client_role_to_a_new_login(firms):
    """Inviting a client (onboarding) gives a new login the investor role: the advisor or
    operations may do that, and nothing more — no other role, no staff flag, not to a login
    that holds a privilege, never to themselves."""
    from accounts.errors import AccountsError
    from accounts.models import Advisor
    from accounts.services import investor_create, user_create

    a, b = firms
    advisor = Advisor.objects.get(firm=a["firm"]).user
    client = user_create(email="client@example.com", password=None, roles=[Role.INVESTOR], acting_user=advisor)
    assert client.roles == {Role.INVESTOR} and not client.is_staff and not client.is_superuser
    assert user_create(email="c2@example.com", password=None, roles=[Role.INVESTOR], acting_user=a["operations"])
    for roles, staff in (([Role.INVESTOR, Role.ADVISOR], False), ([Role.INVESTOR], True), ([Role.COMPLIANCE], False)):
        with pytest.raises(AccountsError, match="Only a superuser"):
            user_create(email="x@example.com", password="x", roles=roles, is_staff=staff, acting_user=advisor)
    with pytest.raises(AccountsError, match="Only a superuser"):  # compliance opens no clients
        user_create(email="x@example.com", password="x", roles=[Role.INVESTOR], acting_user=a["compliance"])
    household = Advisor.objects.get(firm=a["firm"]).households.first()
    for login in (a["compliance"], advisor):  # a staff login, and the advisor's own
        with pytest.raises(AccountsError, match="Only a superuser"):
            investor_create(
                firm=a["firm"], household=household, first_name="X", last_name="Y", user=login, acting_user=advisor
            )
    other_firms_login = user_create(
        email="b-client@example.com", password=None, roles=[], acting_user=None, firm=b["firm"]
    )
    with pytest.raises(AccountsError, match="Only a superuser"):
        investor_create(
            firm=a["firm"],
            household=household,
            first_name="X",
            last_name="Z",
            user=other_firms_login,
            acting_user=advisor,
        )
