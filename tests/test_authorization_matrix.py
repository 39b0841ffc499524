"""The authorization matrix: every URL of the project, as every role, against objects that are
not the role's to see.

The URL patterns are WALKED (django.urls.get_resolver(), recursively), so an endpoint added
later is in the matrix automatically; a pattern that takes an object id must be named in
OBJECT_OF (which object an id refers to) or `test_every_pattern_with_an_id_is_in_the_matrix`
fails — add the new endpoint there.

The world: firm 1 has advisors alice and bob with a household each, charlie (an investor in
alice's household), a compliance officer and an operations user; firm 2 has an advisor, a
household with an investor, accounts, a model, a proposal, an order, KYC and AML cases, a
suitability case, a fee schedule and billing run, a reconciliation break and OAuth clients.
Bob's household holds an account, a proposal and an order too: alice (advisor) and charlie
(investor) must not see those either, while firm 1's compliance and operations may.

For each pattern with an id and each role the test requests the foreign object with GET,
POST and PATCH and expects a refusal — 404, 403, 401, 405, or a redirect to the login (or 2FA)
page — and never a 2xx, never a 5xx, and never the foreign household's names in the body.
Patterns without an id must never answer 5xx nor show a foreign household's names.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

ROLES = ("investor", "advisor", "compliance", "operations", "anonymous")

# Not walked, each tested elsewhere: the admin (OTP-guarded Django admin), static files, the
# OpenAPI schema and its docs pages (public by design, no data), and the signature-protected
# webhooks (tests/trading/test_webhooks.py, tests/compliance).
EXCLUDED_PREFIXES = ("admin/", "static/", "api/v1/schema/", "api/v1/docs/", "api/v1/redoc/", "webhooks/")

# Which object an id in a URL refers to, by URL name. `side` objects live in firm 2 (every role
# is a stranger there) and, for household-level objects, in bob's household (a stranger to
# alice and charlie). A value is the kind of object (a key of World.objects) or a callable
# (world, side) -> the URL's kwargs, for patterns with several parameters.
OBJECT_OF: dict[str, Any] = {
    # accounts
    "api-household-detail": "household",
    "api-webhook-subscription-detail": "webhook_subscription",
    "accounts:household_detail": "household",
    "accounts:household_edit": "household",
    "accounts:password_reset_confirm": lambda w, side: {
        "uidb64": w.uidb64(side),
        "token": "set-password",
    },
    # portfolios
    "api-model-detail": "model",
    "api-account-detail": "account",
    "api-account-positions": "account",
    "api-account-transfers-in": "account",
    "api-account-drift": "account",
    "api-account-performance": "account",
    "portfolios:account_detail": "account",
    "portfolios:household_accounts": "household",
    "portfolios:account_settings": "account",
    "portfolios:transfer_in": "account",
    "portfolios:model_edit": "model",
    # trading
    "api-proposal-create": "account",
    "api-proposal-detail": "proposal",
    "api-proposal-approve": "proposal",
    "api-order-detail": "order",
    "api-order-cancel": "order",
    "api-deposit-create": "account",
    "api-withdrawal-create": "account",
    "api-account-transactions": "account",
    "trading:account_trading": "account",
    "trading:order_create": "account",
    "trading:transfer_create": "account",
    "trading:proposal_create": "account",
    "trading:proposal_detail": "proposal",
    "trading:proposal_approve": "proposal",
    "trading:proposal_discard": "proposal",
    "trading:order_cancel": "order",
    # compliance
    "api-household-kyc": "household",
    "api-investor-kyc": "investor",
    "api-investor-risk-profile": "investor",
    "api-order-checks": "order",
    "compliance:kyc_decide": "kyc",
    "compliance:aml_case": "aml_case",
    "compliance:suitability_resolve": "suitability_case",
    "compliance:order_decide": "order",
    "compliance:household_section": "household",
    "compliance:kyc_start": "investor",
    "compliance:risk_questionnaire": "investor",
    # onboarding
    "api-household-investors": "household",
    "api-investor-detail": "investor",
    "api-household-onboarding": "household",
    "api-household-onboarding-submit": "household",
    "api-household-documents": "household",
    "api-document-download": lambda w, side: {"pk": _document_in(w, side)},
    "onboarding:household": "household",
    "onboarding:household_section": "household",
    "onboarding:household_submit": "household",
    "onboarding:investor_new": "household",
    "onboarding:account_new": "household",
    "onboarding:sign": lambda w, side: {"pk": w.objects[side]["household"].pk, "kind": "form_adv"},
    "onboarding:investor": "investor",
    "onboarding:invitation": lambda w, side: {"uidb64": w.uidb64(side), "token": "set-password"},
    "onboarding:document": lambda w, side: {"pk": _document_in(w, side)},
    # operations
    "operations:job_detail": "job",
    "operations:break_resolve": "break",
    "operations:billing_detail": "billing_run",
    "operations:billing_approve": "billing_run",
    "operations:billing_file": "billing_run",
    # the OAuth provider's pages: another user's clients and tokens
    "oauth2_provider:detail": "oauth_application",
    "oauth2_provider:delete": "oauth_application",
    "oauth2_provider:update": "oauth_application",
    "oauth2_provider:authorized-token-delete": "oauth_token",
    "oauth2_provider:dcr-register-management": lambda w, side: {"client_id": w.objects[side]["oauth_client_id"]},
    "oauth2_provider:device-confirm": lambda w, side: {
        "client_id": w.objects[side]["oauth_client_id"],
        "user_code": "ABCD-EFGH",
    },
    "oauth2_provider:device-grant-status": lambda w, side: {
        "client_id": w.objects[side]["oauth_client_id"],
        "user_code": "ABCD-EFGH",
    },
}

# Objects that are not a firm's (a job run covers every firm): the roles that may see them.
GLOBAL_FOR: dict[str, set[str]] = {"job": {"operations", "compliance"}}

# A 2xx on these is not a leak when the body shows nothing of the other side: the password
# reset page answers "this link is invalid" to any uid.
ANSWERS_ANYONE = {"accounts:password_reset_confirm"}

ID_NAME = re.compile(r"^(pk|id|uidb64|.+_id)$")


@dataclass(frozen=True)
class Pattern:
    route: str
    name: str
    params: tuple[str, ...]
    id_params: tuple[str, ...]
    is_api: bool


def walk(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "", inherited=()) -> list[Pattern]:
    """Every URL pattern of the project, with its full route, namespaced name and parameters."""
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        params = inherited + tuple(_params(entry))
        if isinstance(entry, URLResolver):
            ns = ":".join(x for x in (namespace, entry.namespace) if x)
            found += walk(entry, route, ns, params)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else (entry.name or route)
            ids = tuple(p for p, conv in params if isinstance(conv, IntConverter) or ID_NAME.match(p))
            found.append(Pattern(route, name, tuple(p for p, _ in params), ids, route.startswith("api/")))
    return found


def _params(entry) -> list[tuple[str, Any]]:
    pattern = entry.pattern
    converters = getattr(pattern, "converters", None)
    if converters is not None and converters:
        return list(converters.items())
    regex = getattr(pattern, "regex", None)
    return [(name, None) for name in regex.groupindex] if regex is not None else []


def walked() -> list[Pattern]:
    return [p for p in walk() if not p.route.startswith(EXCLUDED_PREFIXES)]


def test_every_pattern_with_an_id_is_in_the_matrix():
    missing = [f"{p.route}  (name {p.name!r})" for p in walked() if p.id_params and p.name not in OBJECT_OF]
    assert not missing, (
        "URL patterns that take an object id but are not in the authorization matrix; add each to "
        "OBJECT_OF in tests/test_authorization_matrix.py:\n" + "\n".join(missing)
    )


def test_the_walk_finds_the_pages_and_the_api():
    names = {p.name for p in walked()}
    assert {"api-account-detail", "portfolios:account_detail", "accounts:household_detail"} <= names
    assert not any(p.route.startswith(EXCLUDED_PREFIXES) for p in walked())


# --- the world ----------------------------------------------------------------------------


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


def _document_in(world: Any, side: str) -> int:
    """A signed-agreement document of the side's household (made on first use)."""
    from onboarding.models import HouseholdDocument

    household = world.objects[side]["household"]
    document = HouseholdDocument.objects.filter(household=household).first() or HouseholdDocument.objects.create(
        household=household,
        title="Agreement",
        kind="privacy_notice",
        filename="a.pdf",
        content=b"%PDF-",
        sha256="0",
        size=5,
    )
    return document.pk


def _household_world(household, advisor_user, *, tag: str, firm_model=None) -> dict[str, Any]:
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


@pytest.fixture
def world(db, alice, bob, alice_household, bob_household, charlie, make_token):
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
    firm2_side = _household_world(zephyr, zed.user, tag="Zephyrine", firm_model=model2)
    bob_side = _household_world(bob_household, bob.user, tag="Bartholomew", firm_model=model1)
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

    from accounts.events import events_publish
    from accounts.models import WebhookSubscription

    for side, owner, tag in ((firm2_side, zed.user, "Zephyrine"), (bob_side, bob.user, "Bartholomew")):
        side["webhook_subscription"] = WebhookSubscription.objects.create(
            firm_id=owner.firm_id, user=owner, url=f"https://hooks.example.com/{tag}", events=["*"], secret="whsec_x"
        )
    events_publish()  # the world's events are in the replay (GET /api/v1/events/ must show none of theirs)

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


# --- the requests ---------------------------------------------------------------------------


def _client(role: str, pattern: Pattern, world: World, make_token):
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from rest_framework.test import APIClient

    if role == "anonymous":
        return APIClient() if pattern.is_api else Client()
    user = world.users[role]
    if pattern.is_api:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, 'read trade')}")
        return client
    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="matrix", defaults={"confirmed": True})
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def _refused(response) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    if response.status_code in (301, 302, 303):
        location = response.headers.get("Location", "")
        return any(part in location for part in ("/accounts/login/", "/accounts/2fa/"))
    return False


MISSING_ID = 2_000_000_000


def _same_as_missing(response, pattern, kwargs, role, method, world, make_token) -> bool:
    """A view that answers a foreign object exactly as it answers an id that exists nowhere (a
    redirect to its queue with "not found", say) reveals nothing: not a leak, though the house
    rule is a 404. Only a redirect or a 4xx qualifies; a 2xx never does."""
    if not (300 <= response.status_code < 500) or not any(isinstance(v, int) for v in kwargs.values()):
        return False
    missing = {k: MISSING_ID if isinstance(v, int) else v for k, v in kwargs.items()}
    other = _request(_client(role, pattern, world, make_token), method, _reverse(pattern, missing))
    return other.status_code == response.status_code and other.headers.get("Location") == response.headers.get(
        "Location"
    )


def _body(response) -> str:
    content = getattr(response, "content", b"")
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    return content.decode("utf-8", "replace")


def _sides_for(role: str, kind: str | None) -> list[str]:
    sides = ["firm2"]
    if role in ("advisor", "investor", "anonymous"):
        sides.append("bob")  # firm 1's compliance and operations see bob's household by design
    return sides


_keys = itertools.count(1)


def _request(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    # a fresh idempotency key, so a write reaches the object lookup instead of a 400 for the header
    headers = {"Idempotency-Key": f"matrix-{next(_keys)}"}
    if method == "POST":
        return client.post(url, {}, headers=headers)
    return client.patch(url, "{}", content_type="application/json", headers=headers)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reaches_another_households_objects(role, world, make_token):
    problems = []
    for pattern in walked():
        if not pattern.id_params or pattern.name not in OBJECT_OF:
            continue
        kind = OBJECT_OF[pattern.name] if isinstance(OBJECT_OF[pattern.name], str) else None
        if kind in GLOBAL_FOR and role in GLOBAL_FOR[kind]:
            continue
        for side in _sides_for(role, kind):
            kwargs = world.kwargs(pattern, side)
            if kwargs is None:
                continue  # bob's household has no such object (firm-level kinds)
            url = _reverse(pattern, kwargs)
            for method in ("GET", "POST", "PATCH"):
                client = _client(role, pattern, world, make_token)
                response = _request(client, method, url)
                body = _body(response) if response.status_code < 300 or response.status_code >= 400 else ""
                shown = [m for m in world.markers[side] if m and m in body]
                if response.status_code >= 500:
                    problems.append(f"{method} {url} as {role}: {response.status_code} (server error)")
                elif shown:
                    problems.append(f"{method} {url} as {role}: {response.status_code} shows {side}'s {shown}")
                elif (
                    not _refused(response)
                    and not (pattern.name in ANSWERS_ANYONE and 200 <= response.status_code < 300)
                    and not _same_as_missing(response, pattern, kwargs, role, method, world, make_token)
                ):
                    problems.append(
                        f"{method} {url} as {role}: {response.status_code}"
                        f"{' -> ' + response.headers.get('Location', '') if 300 <= response.status_code < 400 else ''}"
                        f" for {side}'s {kind or pattern.name} (expected 404/403/401/405 or the login)"
                    )
    assert not problems, f"{len(problems)} leaks for {role}:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_pages_without_an_id_show_only_the_roles_own_data(role, world, make_token):
    problems = []
    for pattern in walked():
        if pattern.id_params or pattern.params:
            continue
        url = "/" + pattern.route
        if "^" in url or "$" in url:
            continue  # a regex route (the OIDC discovery document), not a page with data
        client = _client(role, pattern, world, make_token)
        response = client.get(url)
        body = _body(response) if response.status_code < 300 else ""
        leaked = [m for side in _sides_for(role, None) for m in world.markers[side] if m in body]
        if response.status_code >= 500:
            problems.append(f"GET {url} as {role}: {response.status_code} (server error)")
        elif leaked:
            problems.append(f"GET {url} as {role}: shows {leaked}")
    assert not problems, f"{len(problems)} problems for {role}:\n" + "\n".join(problems)


def _reverse(pattern: Pattern, kwargs: dict[str, Any]) -> str:
    url = "/" + pattern.route
    for name, value in kwargs.items():
        url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
    assert "<" not in url, f"unfilled parameter in {url} ({pattern.name})"
    return url
