"""The Django admin is divided by firm (kronos/admin.py), and privileges are a superuser's.

- Every registered ModelAdmin and inline is a FirmScopedAdmin that names its firm lookup, or
  says it is SHARED or SUPERUSER_ONLY: `test_every_admin_is_firm_scoped_or_declared_shared`
  walks the admin's registry, so an admin added later without a scope fails it.
- Two firms, A and B, are built the same way through the services. Every row that building B
  added to a firm-scoped model is B's; a staff user of A holding EVERY permission (so that only
  the firm scope can stop them) must not find one of them in any list, and meets a 404 on each
  one's change, history and version pages, and on a change posted to it.
- Then the same as operations and compliance staff with their real roles: lists, rename,
  history, delete, foreign-key choices, autocomplete, list filters, actions.
- Privileges: operations staff posting `is_superuser=on` (and staff, roles) to their own user and
  to another user change nothing; a superuser cannot change their own; a superuser can another's.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.test import Client, RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Firm, Household, Investor, Role, User
from kronos.admin import SHARED, SUPERUSER_ONLY, FirmScopedAdmin

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


# --- two firms -------------------------------------------------------------------------------------


def _build_firm(tag: str) -> dict[str, Any]:
    """A firm with the rows every admin shows, made through the services where there is one."""
    from accounts.services import system_user
    from compliance.models import AMLCase, AMLScreening, ComplianceSettings, RestrictedSecurity, SuitabilityCase
    from operations import services as ops_services
    from operations.models import BillingRun, ReconciliationBreak
    from portfolios.models import Security, ValuationSnapshot
    from tests.accounts.factories import AdvisorFactory, FirmFactory, HouseholdFactory, UserFactory
    from tests.test_authorization_matrix import _household_world
    from tests.trading.factories import model_of

    system = system_user()
    firm = FirmFactory(name=f"{tag} Firm", slug=f"{tag.lower()}-firm")
    advisor = AdvisorFactory(firm=firm, user__email=f"{tag.lower()}-advisor@example.com", user__full_name=f"{tag} Adv")
    household = HouseholdFactory(advisor=advisor, firm=firm, name=f"{tag} Household")
    model = model_of(firm, {"AAPL": "0.5", "BND": "0.5"})
    side = _household_world(household, advisor.user, tag=tag, firm_model=model)
    side.pop("_system")
    investor, account = side["investor"], side["account"]
    screening = AMLScreening.objects.create(investor=investor, trigger="manual", best_score=Decimal("97"), is_hit=True)
    side["aml_case"] = AMLCase.objects.create(investor=investor, screening=screening, best_score=Decimal("97"))
    SuitabilityCase.objects.create(account=account, model_risk_level=9, owner_risk_level=3, reason=f"{tag} risky")
    ComplianceSettings.objects.create(firm=firm)
    RestrictedSecurity.objects.create(firm=firm, security=Security.objects.get(symbol="VTI"), reason=f"{tag} list")
    schedule = ops_services.fee_schedule_create(
        firm=firm,
        name=f"{tag} tiers",
        acting_user=system,
        method="tiered",
        tiers=[(Decimal("1000000"), Decimal("100")), (None, Decimal("50"))],
    )
    ops_services.fee_schedule_assign(household=household, schedule=schedule, acting_user=system)
    BillingRun.objects.create(firm=firm, period_start=date(2025, 1, 1), period_end=date(2025, 3, 31), created_by=system)
    ReconciliationBreak.objects.create(
        account=account,
        business_date=date.today() - timedelta(days=1),
        asset="AAPL",
        ours=Decimal("100"),
        theirs=Decimal("99"),
        difference=Decimal("-1"),
    )
    ValuationSnapshot.objects.create(account=account, date=date.today(), market_value=Decimal("1"), cash=Decimal("0"))
    side["firm"] = firm
    side["model"] = model
    side["schedule"] = schedule
    side["operations"] = UserFactory(
        email=f"{tag.lower()}-ops@example.com", firm=firm, roles=[Role.OPERATIONS], is_staff=True
    )
    side["compliance"] = UserFactory(
        email=f"{tag.lower()}-cco@example.com", firm=firm, roles=[Role.COMPLIANCE], is_staff=True
    )
    return side


def _firm_scoped_models() -> dict[type, FirmScopedAdmin]:
    return {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, FirmScopedAdmin) and isinstance(model_admin.firm_scope, tuple)
    }


def _all_pks() -> dict[type, set[Any]]:
    return {model: set(model._default_manager.values_list("pk", flat=True)) for model in _firm_scoped_models()}


@pytest.fixture(autouse=True)
def _role_permissions(db):
    from tests.roles import restore_role_permissions

    restore_role_permissions()


@pytest.fixture
def firms(db):
    from tests.trading.factories import make_security

    for symbol, price in (("AAPL", "150"), ("BND", "70"), ("VTI", "200")):
        make_security(symbol, price)
    a = _build_firm("Aurora")
    before = _all_pks()
    b = _build_firm("Borealis")
    after = _all_pks()
    b["rows"] = {model: after[model] - before[model] for model in after if after[model] - before[model]}
    return a, b


def _staff_client(user) -> Client:
    client = Client()
    client.force_login(user, backend="kronos.auth.CachedModelBackend")
    device = TOTPDevice.objects.create(user=user, name="admin", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def _url(model, suffix: str = "") -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{suffix}"


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
    client = _staff_client(almighty)
    problems: list[str] = []
    for model, pks in b["rows"].items():
        listing = client.get(_url(model), {"all": ""})
        if listing.status_code != 200:
            problems.append(f"{model._meta.label} list: {listing.status_code}")
        for pk in pks:
            if f'href="{_url(model, f"{pk}/change/")}' in listing.text:
                problems.append(f"{model._meta.label} {pk} is listed")
            for suffix in (f"{pk}/change/", f"{pk}/history/", f"{pk}/delete/"):
                answer = client.get(_url(model, suffix))
                if answer.status_code not in (403, 404):
                    problems.append(f"GET {_url(model, suffix)}: {answer.status_code}")
            posted = client.post(_url(model, f"{pk}/change/"), {"name": "Taken over"})
            if posted.status_code not in (403, 404):
                problems.append(f"POST {_url(model, f'{pk}/change/')}: {posted.status_code}")
            history = getattr(model, "history", None)
            version = history.filter(pk=pk).first() if history is not None else None
            if version is not None:
                page = client.get(_url(model, f"{pk}/history/{version.history_id}/"))
                if page.status_code != 404:
                    problems.append(f"GET {_url(model, f'{pk}/history/{version.history_id}/')}: {page.status_code}")
    assert not problems, "\n".join(problems)
    assert Household.objects.get(pk=b["household"].pk).name == "Borealis Household"
    # ...and their own firm's rows they do see.
    assert client.get(_url(Household, f"{a['household'].pk}/change/")).status_code == 200


def test_operations_staff_of_one_firm_cannot_list_open_change_delete_or_see_history_of_anothers(firms):
    a, b = firms
    client = _staff_client(a["operations"])
    for model, other, own, shown in (
        (Household, b["household"], a["household"], str),
        (Investor, b["investor"], a["investor"], str),
        (User, b["user"], a["user"], str),
        (type(b["account"]), b["account"], a["account"], lambda account: account.custodian_account_number),
    ):
        listing = client.get(_url(model))
        assert listing.status_code == 200
        assert shown(other) not in listing.text and shown(own) in listing.text, model
        for suffix in ("change/", "history/"):
            assert client.get(_url(model, f"{other.pk}/{suffix}")).status_code == 404, (model, suffix)
        assert client.get(_url(model, f"{other.pk}/delete/")).status_code in (403, 404)
    # the rename that landed before the fix
    renamed = client.post(
        _url(Household, f"{b['household'].pk}/change/"),
        {"name": "Renamed", "firm": a["firm"].pk, "advisor": a["household"].advisor_id, "status": "active"},
    )
    assert renamed.status_code == 404
    household = Household.objects.get(pk=b["household"].pk)
    assert household.name == "Borealis Household"
    assert not household.history.filter(history_user=a["operations"]).exists()
    version = household.history.first()
    assert client.get(_url(Household, f"{household.pk}/history/{version.history_id}/")).status_code == 404
    # postings and journal entries of the other firm's accounts
    from portfolios.models import Posting

    theirs = Posting.objects.filter(book__account=b["account"]).first()
    assert client.get(_url(Posting, f"{theirs.pk}/change/")).status_code == 404
    assert client.get(_url(type(theirs.entry), f"{theirs.entry_id}/change/")).status_code == 404


def test_foreign_key_choices_autocomplete_and_filters_offer_only_the_own_firm(firms):
    a, b = firms
    client = _staff_client(a["operations"])
    # A new household in the other firm, or advised by its advisor: not valid choices.
    page = client.post(
        _url(Household, "add/"),
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
    form = client.get(_url(Household, "add/")).text
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
    answer = client.post(_url(Household, f"{own.pk}/change/"), data)
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
    listing = client.get(_url(Household))
    assert "Aurora Firm" in listing.text and "Borealis Firm" not in listing.text


def test_an_action_never_reaches_another_firms_rows(firms):
    from portfolios.models import ModelTarget

    a, b = firms
    client = _staff_client(a["operations"])  # operations may delete model targets
    theirs = ModelTarget.objects.filter(model=b["model"]).first()
    answer = client.post(
        _url(ModelTarget), {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"}
    )
    assert answer.status_code in (200, 302)
    assert ModelTarget.objects.filter(pk=theirs.pk).exists()


def test_compliance_staff_see_only_their_firms_kyc_and_aml_rows(firms):
    from compliance.models import AMLCase, KYCVerification

    a, b = firms
    client = _staff_client(a["compliance"])
    listing = client.get(_url(KYCVerification))
    assert listing.status_code == 200
    assert "Aurora Investor" in listing.text and "Borealis Investor" not in listing.text
    theirs = KYCVerification.objects.get(investor=b["investor"])
    for suffix in ("change/", "history/"):
        assert client.get(_url(KYCVerification, f"{theirs.pk}/{suffix}")).status_code == 404
    changed = client.post(_url(KYCVerification, f"{theirs.pk}/change/"), {"status": "rejected"})
    assert changed.status_code == 404
    assert KYCVerification.objects.get(pk=theirs.pk).status == "approved"
    assert client.get(_url(AMLCase, f"{b['aml_case'].pk}/change/")).status_code == 404
    assert "Borealis" not in client.get(_url(AMLCase)).text


def test_a_superuser_sees_every_firm(firms):
    a, b = firms
    root = User.objects.create_superuser(email="root@example.com", password="x")  # noqa: S106
    client = _staff_client(root)
    listing = client.get(_url(Household))
    assert "Aurora Household" in listing.text and "Borealis Household" in listing.text
    assert client.get(_url(Household, f"{b['household'].pk}/change/")).status_code == 200


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
    assert _staff_client(almighty).get(path).status_code == 403
    root = User.objects.create_superuser(email="root@example.com", password="x")  # noqa: S106
    assert _staff_client(root).get(path).status_code == 200


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
    client = _staff_client(ops)
    for target in (ops, colleague):
        before = _privileges(target)
        answer = client.post(
            _url(User, f"{target.pk}/change/"), _user_form(target, full_name="Renamed", **_escalation())
        )
        assert answer.status_code in (302, 403), answer.status_code
        assert _privileges(target) == before, target.email
    page = client.get(_url(User, f"{ops.pk}/change/")).text
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page


def test_operations_staff_cannot_touch_a_superuser_of_their_firm(firms):
    a, _ = firms
    root = User.objects.create_superuser(email="root@example.com", password="x", firm=a["firm"])  # noqa: S106
    client = _staff_client(a["operations"])
    assert client.post(_url(User, f"{root.pk}/change/"), _user_form(root, is_active="")).status_code == 403
    assert client.post(
        _url(User, f"{root.pk}/password/"), {"password1": "Taken-over-42!", "password2": "Taken-over-42!"}
    ).status_code in (403, 404)
    root.refresh_from_db()
    assert root.is_active and root.check_password("x")


def test_a_superuser_cannot_change_their_own_privileges_but_can_anothers(firms):
    a, _ = firms
    root = User.objects.create_superuser(email="root@example.com", password="x", firm=a["firm"])  # noqa: S106
    client = _staff_client(root)
    before = _privileges(root)
    client.post(
        _url(User, f"{root.pk}/change/"),
        _user_form(root, is_superuser="", is_staff="", groups=[Group.objects.get(name=Role.ADVISOR).pk]),
    )
    assert _privileges(root) == before
    other = a["compliance"]
    answer = client.post(
        _url(User, f"{other.pk}/change/"),
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
