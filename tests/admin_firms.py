"""Two firms for the admin tests (tests/test_admin_firm_scope.py, tests/test_admin_privileges.py),
built the same way through the services, and a staff client past the second factor."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from kronos.admin import FirmScopedAdmin


def build_firm(tag: str) -> dict[str, Any]:
    """A firm with the rows every admin shows, made through the services where there is one."""
    from accounts.services import system_user
    from compliance.models import AMLCase, AMLScreening, ComplianceSettings, RestrictedSecurity, SuitabilityCase
    from operations import services as ops_services
    from operations.models import BillingRun, ReconciliationBreak
    from portfolios.models import Security, ValuationSnapshot
    from tests.accounts.factories import AdvisorFactory, FirmFactory, HouseholdFactory, UserFactory
    from tests.authorization_world import household_world
    from tests.trading.factories import model_of

    system = system_user()
    firm = FirmFactory(name=f"{tag} Firm", slug=f"{tag.lower()}-firm")
    advisor = AdvisorFactory(firm=firm, user__email=f"{tag.lower()}-advisor@example.com", user__full_name=f"{tag} Adv")
    household = HouseholdFactory(advisor=advisor, firm=firm, name=f"{tag} Household")
    model = model_of(firm, {"AAPL": "0.5", "BND": "0.5"})
    side = household_world(household, advisor.user, tag=tag, firm_model=model)
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


def firm_scoped_models() -> dict[type, FirmScopedAdmin]:
    return {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, FirmScopedAdmin) and isinstance(model_admin.firm_scope, tuple)
    }


def all_pks() -> dict[type, set[Any]]:
    return {model: set(model._default_manager.values_list("pk", flat=True)) for model in firm_scoped_models()}


def two_firms() -> tuple[dict[str, Any], dict[str, Any]]:
    """Firms A and B built the same way; B's "rows" are what building B added to each firm-scoped model."""
    from tests.trading.factories import make_security

    for symbol, price in (("AAPL", "150"), ("BND", "70"), ("VTI", "200")):
        make_security(symbol, price)
    a = build_firm("Aurora")
    before = all_pks()
    b = build_firm("Borealis")
    after = all_pks()
    b["rows"] = {model: after[model] - before[model] for model in after if after[model] - before[model]}
    return a, b


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user, backend="kronos.auth.CachedModelBackend")
    device = TOTPDevice.objects.create(user=user, name="admin", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def admin_url(model, suffix: str = "") -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/{suffix}"
