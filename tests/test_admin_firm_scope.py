"""The Django admin is divided by firm (kronos/admin.py).

- Every registered ModelAdmin and inline is a FirmScopedAdmin that names its firm lookup, or
  says it is SHARED or SUPERUSER_ONLY: `test_every_admin_is_firm_scoped_or_declared_shared`
  walks the admin's registry, so an admin added later without a scope fails it.
- Two firms, A and B, are built the same way through the services. Every row that building B
  added to a firm-scoped model is B's; a staff user of A holding EVERY permission (so that only
  the firm scope can stop them) must not find one of them in any list, and meets a 404 on each
  one's change, history and version pages, and on a change posted to it.
- Then the same as operations and compliance staff with their real roles: lists, rename,
  history, delete, foreign-key choices, autocomplete, list filters, actions.

Privileges are tests/test_admin_privileges.py.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.contrib.auth.models import Permission
from django.core.exceptions import FieldDoesNotExist

from accounts.models import Firm, Household, Investor, User
from kronos.admin import SHARED, SUPERUSER_ONLY, FirmScopedAdmin
from tests.admin_firms import admin_url, staff_client, two_firms
from tests.roles import restore_role_permissions

pytestmark = pytest.mark.django_db


# --- every admin declares its firm ---------------------------------------------------------------


def _lookup_reaches_firm(model, lookup: str) -> bool:
    current = model
    parts = lookup.split("__")
    for i, part in enumerate(parts):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        last = i == len(parts) - 1
        if last:
            if current is Firm and field.primary_key:
                return True
            return bool(field.is_relation and field.related_model is Firm)
        if not field.is_relation:
            return False
        current = field.related_model
    return False


def unscoped_admins(site: AdminSite) -> list[str]:
    """What is wrong with the scope of each admin (and inline) of `site`."""
    problems = []

    def check(owner: str, cls: type, model) -> None:
        if not issubclass(cls, FirmScopedAdmin):
            problems.append(f"{owner}: {cls.__name__} is not a FirmScopedAdmin")
            return
        scope = cls.firm_scope
        if scope in (SHARED, SUPERUSER_ONLY):
            return
        if not scope or isinstance(scope, str):
            problems.append(f"{owner}: {cls.__name__} declares no firm_scope")
            return
        for lookup in scope:
            if not _lookup_reaches_firm(model, lookup):
                problems.append(f"{owner}: {cls.__name__}.firm_scope {lookup!r} does not end at accounts.Firm")

    for model, model_admin in site._registry.items():
        check(model._meta.label, type(model_admin), model)
        for inline in model_admin.inlines:
            check(f"{model._meta.label} inline", inline, inline.model)
    return problems


def test_every_admin_is_firm_scoped_or_declared_shared():
    problems = unscoped_admins(admin.site)
    assert not problems, "Admins not divided by firm; see kronos/admin.py:\n" + "\n".join(problems)


def test_the_walk_catches_an_admin_that_forgets_its_firm():
    site = AdminSite(name="probe")
    site.register(Household)  # a plain ModelAdmin

    class Forgetful(FirmScopedAdmin, admin.ModelAdmin):
        pass

    class Wrong(FirmScopedAdmin, admin.ModelAdmin):
        firm_scope = ("advisor__user",)

    site.register(Investor, Forgetful)
    site.register(User, Wrong)
    problems = "\n".join(unscoped_admins(site))
    assert "accounts.Household: ModelAdmin is not a FirmScopedAdmin" in problems
    assert "Forgetful declares no firm_scope" in problems
    assert "'advisor__user' does not end at accounts.Firm" in problems


@pytest.fixture(autouse=True)
def _role_permissions(db):
    restore_role_permissions()


@pytest.fixture
def firms(db):
    return two_firms()


def test_a_staff_user_with_every_permission_meets_only_their_own_firm(firms):
    a, b = firms
    covered = {model._meta.label for model in b["rows"]}
    assert {
        "accounts.User",
        "accounts.Household",
        "accounts.Investor",
        "portfolios.InvestmentAccount",
        "portfolios.Posting",
        "portfolios.JournalEntry",
        "compliance.KYCVerification",
        "compliance.AMLCase",
        "operations.FeeSchedule",
    } <= covered, covered
    almighty = a["operations"]
    almighty.user_permissions.set(Permission.objects.all())  # only the firm scope can stop them now
    client = staff_client(almighty)
    problems: list[str] = []
    for model, pks in b["rows"].items():
        listing = client.get(admin_url(model), {"all": ""})
        if listing.status_code != 200:
            problems.append(f"{model._meta.label} list: {listing.status_code}")
        for pk in pks:
            if f'href="{admin_url(model, f"{pk}/change/")}' in listing.text:
                problems.append(f"{model._meta.label} {pk} is listed")
            for suffix in (f"{pk}/change/", f"{pk}/history/", f"{pk}/delete/"):
                answer = client.get(admin_url(model, suffix))
                if answer.status_code not in (403, 404):
                    problems.append(f"GET {admin_url(model, suffix)}: {answer.status_code}")
            posted = client.post(admin_url(model, f"{pk}/change/"), {"name": "Taken over"})
            if posted.status_code not in (403, 404):
                problems.append(f"POST {admin_url(model, f'{pk}/change/')}: {posted.status_code}")
            history = getattr(model, "history", None)
            version = history.filter(pk=pk).first() if history is not None else None
            if version is not None:
                page = client.get(admin_url(model, f"{pk}/history/{version.history_id}/"))
                if page.status_code != 404:
                    problems.append(
                        f"GET {admin_url(model, f'{pk}/history/{version.history_id}/')}: {page.status_code}"
                    )
    assert not problems, "\n".join(problems)
    assert Household.objects.get(pk=b["household"].pk).name == "Borealis Household"
    # ...and their own firm's rows they do see.
    assert client.get(admin_url(Household, f"{a['household'].pk}/change/")).status_code == 200


def test_operations_staff_of_one_firm_cannot_list_open_change_delete_or_see_history_of_anothers(firms):
    a, b = firms
    client = staff_client(a["operations"])
    for model, other, own, shown in (
        (Household, b["household"], a["household"], str),
        (Investor, b["investor"], a["investor"], str),
        (User, b["user"], a["user"], str),
        (type(b["account"]), b["account"], a["account"], lambda account: account.custodian_account_number),
    ):
        listing = client.get(admin_url(model))
        assert listing.status_code == 200
        assert shown(other) not in listing.text and shown(own) in listing.text, model
        for suffix in ("change/", "history/"):
            assert client.get(admin_url(model, f"{other.pk}/{suffix}")).status_code == 404, (model, suffix)
        assert client.get(admin_url(model, f"{other.pk}/delete/")).status_code in (403, 404)
    # the rename that landed before the fix
    renamed = client.post(
        admin_url(Household, f"{b['household'].pk}/change/"),
        {"name": "Renamed", "firm": a["firm"].pk, "advisor": a["household"].advisor_id, "status": "active"},
    )
    assert renamed.status_code == 404
    household = Household.objects.get(pk=b["household"].pk)
    assert household.name == "Borealis Household"
    assert not household.history.filter(history_user=a["operations"]).exists()
    version = household.history.first()
    assert client.get(admin_url(Household, f"{household.pk}/history/{version.history_id}/")).status_code == 404
    # postings and journal entries of the other firm's accounts
    from portfolios.models import Posting

    theirs = Posting.objects.filter(book__account=b["account"]).first()
    assert client.get(admin_url(Posting, f"{theirs.pk}/change/")).status_code == 404
    assert client.get(admin_url(type(theirs.entry), f"{theirs.entry_id}/change/")).status_code == 404


def test_foreign_key_choices_autocomplete_and_filters_offer_only_the_own_firm(firms):
    a, b = firms
    client = staff_client(a["operations"])
    # A new household in the other firm, or advised by its advisor: not valid choices.
    page = client.post(
        admin_url(Household, "add/"),
        {
            "name": "Smuggled",
            "firm": b["firm"].pk,
            "advisor": b["household"].advisor_id,
            "status": "active",
            "members-TOTAL_FORMS": "0",
            "members-INITIAL_FORMS": "0",
        },
    )
    assert page.status_code == 200 and "Select a valid choice" in page.text
    assert not Household.objects.filter(name="Smuggled").exists()
    # The add form offers only the own firm and its advisors.
    form = client.get(admin_url(Household, "add/")).text
    assert "Aurora Firm" in form and "Borealis Firm" not in form and "Borealis Adv" not in form
    # An inline member from the other firm is refused.
    own = a["household"]
    data = {
        "name": own.name,
        "firm": own.firm_id,
        "advisor": own.advisor_id,
        "status": "active",
        "notes": "",
        "members-TOTAL_FORMS": "1",
        "members-INITIAL_FORMS": "0",
        "members-0-investor": b["investor"].pk,
        "members-0-relationship": "joint",
    }
    answer = client.post(admin_url(Household, f"{own.pk}/change/"), data)
    assert answer.status_code == 200 and "Select a valid choice" in answer.text
    assert not own.members.filter(investor=b["investor"]).exists()
    # Autocomplete asks the related model's admin: no other firm's investors.
    found = client.get(
        "/admin/autocomplete/",
        {"app_label": "accounts", "model_name": "householdmember", "field_name": "investor", "term": "Investor"},
    )
    assert found.status_code == 200
    names = {r["text"] for r in found.json()["results"]}
    assert "Aurora Investor" in names and "Borealis Investor" not in names
    # The list filter on firm names only the firms the list holds.
    listing = client.get(admin_url(Household))
    assert "Aurora Firm" in listing.text and "Borealis Firm" not in listing.text


def test_an_action_never_reaches_another_firms_rows(firms):
    from portfolios.models import ModelTarget

    a, b = firms
    client = staff_client(a["operations"])  # operations may delete model targets
    theirs = ModelTarget.objects.filter(model=b["model"]).first()
    answer = client.post(
        admin_url(ModelTarget), {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"}
    )
    assert answer.status_code in (200, 302)
    assert ModelTarget.objects.filter(pk=theirs.pk).exists()


def test_compliance_staff_see_only_their_firms_kyc_and_aml_rows(firms):
    from compliance.models import AMLCase, KYCVerification

    a, b = firms
    client = staff_client(a["compliance"])
    listing = client.get(admin_url(KYCVerification))
    assert listing.status_code == 200
    assert "Aurora Investor" in listing.text and "Borealis Investor" not in listing.text
    theirs = KYCVerification.objects.get(investor=b["investor"])
    for suffix in ("change/", "history/"):
        assert client.get(admin_url(KYCVerification, f"{theirs.pk}/{suffix}")).status_code == 404
    changed = client.post(admin_url(KYCVerification, f"{theirs.pk}/change/"), {"status": "rejected"})
    assert changed.status_code == 404
    assert KYCVerification.objects.get(pk=theirs.pk).status == "approved"
    assert client.get(admin_url(AMLCase, f"{b['aml_case'].pk}/change/")).status_code == 404
    assert "Borealis" not in client.get(admin_url(AMLCase)).text


def test_a_superuser_sees_every_firm(firms):
    a, b = firms
    root = User.objects.create_superuser(email="root@example.com", password="x")  # noqa: S106
    client = staff_client(root)
    listing = client.get(admin_url(Household))
    assert "Aurora Household" in listing.text and "Borealis Household" in listing.text
    assert client.get(admin_url(Household, f"{b['household'].pk}/change/")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/admin/oauth2_provider/application/",
        "/admin/oauth2_provider/accesstoken/",
        "/admin/otp_totp/totpdevice/",
        "/admin/auth/group/",
        "/admin/axes/accessattempt/",
        "/admin/django_celery_results/taskresult/",
        "/admin/operations/jobrun/",
    ],
)
def test_the_platforms_machinery_is_the_superusers(firms, path):
    a, _ = firms
    almighty = a["operations"]
    almighty.user_permissions.set(Permission.objects.all())
    assert staff_client(almighty).get(path).status_code == 403
    root = User.objects.create_superuser(email="root@example.com", password="x")  # noqa: S106
    assert staff_client(root).get(path).status_code == 200
