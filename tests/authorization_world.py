"""The world of the authorization matrix (tests/test_authorization_matrix.py): two firms, and in
firm 1 two advisors' households, each side with the objects the URLs name."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tests.authorization_catalogue import OBJECT_OF, Pattern


@dataclass
class World:
    users: dict[str, Any]
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # side -> kind -> object or value
    markers: dict[str, list[str]] = field(default_factory=dict)  # side -> strings only that side shows

    def uidb64(self, side: str) -> str:
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        return urlsafe_base64_encode(force_bytes(self.objects[side]["user"].pk))

    def kwargs(self, pattern: Pattern, side: str) -> dict[str, Any] | None:
        spec = OBJECT_OF[pattern.name]
        if callable(spec):
            try:
                return spec(self, side)
            except KeyError:
                return None  # that side has no such object (bob's household has no OAuth client)
        obj = self.objects[side].get(spec)
        if obj is None:
            return None
        return dict.fromkeys(pattern.id_params, obj.pk)


def household_world(household, advisor_user, *, tag: str, firm_model=None) -> dict[str, Any]:
    """An account with holdings, a proposal and an order in `household`, through the services."""
    from accounts.services import system_user
    from tests.accounts.factories import InvestorFactory, UserFactory
    from tests.compliance.factories import kyc, profile
    from tests.trading.factories import account_with
    from trading.services import order_create
    from trading.services.proposals import proposal_create_for_accounts

    investor_user = UserFactory(email=f"{tag.lower()}@example.com", full_name=f"{tag} Investor", roles=["investor"])
    investor = InvestorFactory(
        user=investor_user, firm=household.firm, households=[household], first_name=tag, last_name="Investor"
    )
    kyc(investor)
    profile(investor, level=7)
    account = account_with(
        household,
        cash="50000.00",
        positions=[("AAPL", "100", "100"), ("VTI", "20", "180")],
        model=firm_model,
        name=f"{tag} Brokerage",
    )
    proposals = proposal_create_for_accounts(account_ids=[account.pk], acting_user=advisor_user)
    order = order_create(
        account=account, security="BND", side="buy", quantity=Decimal("1"), acting_user=advisor_user, source="advisor"
    )
    return {
        "household": household,
        "account": account,
        "investor": investor,
        "proposal": proposals[0] if proposals else None,
        "order": order,
        "user": investor_user,
        "_system": system_user(),
    }


def build_world(alice, bob, alice_household, bob_household, charlie, make_token) -> World:
    """The world of the matrix (the `world` fixture of tests/test_authorization_matrix.py)."""
    from django.utils import timezone
    from oauth2_provider.models import get_application_model

    from accounts.models import Role
    from compliance.models import AMLCase, AMLScreening, KYCVerification, SuitabilityCase
    from operations.models import BillingRun, FeeSchedule, JobRun, ReconciliationBreak
    from tests.accounts.factories import AdvisorFactory, HouseholdFactory, UserFactory
    from tests.trading.factories import make_security, model_of

    for symbol, price in (("AAPL", "150"), ("BND", "70"), ("VTI", "200")):
        make_security(symbol, price)
    compliance_user = UserFactory(firm=alice.firm, roles=[Role.COMPLIANCE], is_staff=True, full_name="Cora Compliance")
    ops_user = UserFactory(firm=alice.firm, roles=[Role.OPERATIONS], is_staff=True, full_name="Otto Operations")

    zed = AdvisorFactory(user__email="zed@other.example", user__full_name="Zed Zenith")
    firm2 = zed.firm
    assert firm2 != alice.firm
    zephyr = HouseholdFactory(advisor=zed, firm=firm2, name="Zephyrine Household")
    model2 = model_of(firm2, {"AAPL": "0.4", "BND": "0.4", "VTI": "0.2"})
    model1 = model_of(alice.firm, {"AAPL": "0.5", "BND": "0.5"})
    firm2_side = household_world(zephyr, zed.user, tag="Zephyrine", firm_model=model2)
    bob_side = household_world(bob_household, bob.user, tag="Bartholomew", firm_model=model1)
    system = firm2_side.pop("_system")
    bob_side.pop("_system")

    # firm 2's compliance and operations objects
    investor2 = firm2_side["investor"]
    firm2_side["kyc"] = KYCVerification.objects.get(investor=investor2)
    screening = AMLScreening.objects.create(
        investor=investor2, trigger="manual", best_score=Decimal("97.0"), is_hit=True
    )
    firm2_side["aml_case"] = AMLCase.objects.create(investor=investor2, screening=screening, best_score=Decimal("97.0"))
    firm2_side["suitability_case"] = SuitabilityCase.objects.create(
        account=firm2_side["account"], model_risk_level=9, owner_risk_level=3, reason="Zephyrine model too risky"
    )
    firm2_side["model"] = model2
    schedule = FeeSchedule.objects.create(firm=firm2, name="Zephyrine fees")
    firm2_side["billing_run"] = BillingRun.objects.create(
        firm=firm2, period_start=date(2025, 1, 1), period_end=date(2025, 3, 31), created_by=system
    )
    firm2_side["fee_schedule"] = schedule
    firm2_side["break"] = ReconciliationBreak.objects.create(
        account=firm2_side["account"],
        business_date=date.today() - timedelta(days=1),
        asset="AAPL",
        ours=Decimal("100"),
        theirs=Decimal("99"),
        difference=Decimal("-1"),
    )
    firm2_side["job"] = JobRun.objects.create(
        job="drift_scan",
        business_date=date.today(),
        status="partial",
        errors=[{"account_id": firm2_side["account"].pk, "firm_id": firm2.pk, "error": "Zephyrine failed"}],
        finished_at=timezone.now(),
    )
    app = get_application_model().objects.create(
        name="Zephyrine integration",
        user=zed.user,
        client_type="confidential",
        authorization_grant_type="client-credentials",
    )
    firm2_side["oauth_application"] = app
    firm2_side["oauth_client_id"] = app.client_id
    make_token(zed.user, "read")
    from oauth2_provider.models import get_access_token_model

    firm2_side["oauth_token"] = get_access_token_model().objects.filter(user=zed.user).first()
    firm2_side["user"] = zed.user

    from accounts.models import Event, WebhookSubscription
    from accounts.services import events_publish

    for side, owner, tag in ((firm2_side, zed.user, "Zephyrine"), (bob_side, bob.user, "Bartholomew")):
        side["webhook_subscription"] = WebhookSubscription.objects.create(
            firm_id=owner.firm_id, user=owner, url=f"https://hooks.example.com/{tag}", events=["*"], secret="whsec_x"
        )
    events_publish()  # the world's events are in the replay (GET /api/v1/events/ must show none of theirs)

    from notifications.models import Notification

    for side, owner, tag in ((firm2_side, zed.user, "Zephyrine"), (bob_side, bob.user, "Bartholomew")):
        # each side's advisor has a notification naming their household (theirs alone to read or mark)
        side["notification"], _ = Notification.objects.get_or_create(
            user=owner,
            event=Event.objects.filter(household=side["household"]).order_by("id").first(),
            defaults={"kind": "order_rejected", "title": f"{tag} order rejected", "delivery": "in_app"},
        )

    users = {"investor": charlie, "advisor": alice.user, "compliance": compliance_user, "operations": ops_user}
    w = World(users=users, objects={"firm2": firm2_side, "bob": bob_side})
    w.markers["firm2"] = [
        "Zephyrine",
        "Zed Zenith",
        "zed@other.example",
        firm2_side["account"].custodian_account_number,
    ]
    w.markers["bob"] = ["Bartholomew", bob_side["account"].custodian_account_number]
    return w
