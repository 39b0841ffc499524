"""Segregation of duties inside one firm: role × action, through the API and the pages.

tests/test_authorization_matrix.py proves nobody reaches another firm's or household's
objects. This matrix is about the same firm: compliance officers and operations staff see
every account of their firm, but seeing an account is not trading it. For each role — the
household's investor, its advisor, another advisor of the firm, the firm's compliance officer
and its operations staff — each action is attempted through every channel that offers it, on a
fresh object, and its effect is looked up in the database: it happened for exactly the roles
in ALLOWED, and for the others the answer is a refusal (401/403/404 or the form's refusal)
with nothing changed.

`test_the_matrix_catches_a_firm_wide_trading_rule` runs the matrix with `account_may_trade`
loosened to "anyone who can see the account" and expects it to object.

The AML tests at the end: a confirmed watch-list match keeps the owner's accounts frozen —
no order, deposit or withdrawal — whatever the firm set its AML rule to.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import Role

pytestmark = pytest.mark.django_db

ROLES = ("investor", "advisor", "other_advisor", "compliance", "operations")

ALLOWED: dict[str, set[str]] = {
    "see account": {"investor", "advisor", "compliance", "operations"},
    "place order": {"advisor"},
    "approve proposal": {"advisor"},
    "decide compliance review": {"compliance"},
    "decide AML case": {"compliance"},
    "bill fees": {"operations"},
    "approve billing": {"operations"},
    "deposit": {"advisor", "investor"},
    "withdraw": {"advisor", "investor"},
}

_keys = itertools.count(1)
_years = itertools.count(1)


@dataclass
class Firm:
    users: dict[str, Any]
    account: Any
    owner: Any
    firm: Any


@pytest.fixture(autouse=True)
def _role_permissions(db):
    from tests.roles import restore_role_permissions

    restore_role_permissions()


@pytest.fixture
def firm(alice, bob, alice_household, charlie, settings):
    """alice's household: charlie owns an account with $100,000 and 50 VTI (at 100), a 50/50
    AAPL/BND model; a fee schedule; the firm's compliance officer and operations staff."""
    from accounts.models import Investor
    from accounts.services import system_user
    from operations import services as ops_services
    from tests.accounts.factories import UserFactory
    from tests.compliance import factories as cf
    from tests.trading.factories import account_with, make_security, model_of

    settings.TRADING_RELAY_ON_COMMIT = False  # orders wait in the outbox: no custodian here
    for symbol, price in (("AAPL", "150"), ("BND", "70"), ("VTI", "100")):
        make_security(symbol, price)
    owner = Investor.objects.get(user=charlie)
    cf.kyc(owner)
    cf.profile(owner, 7)
    model = model_of(alice.firm, {"AAPL": "0.5", "BND": "0.5"})
    account = account_with(alice_household, cash="100000.00", positions=[("VTI", "50", "90")], model=model)
    schedule = ops_services.fee_schedule_create(
        firm=alice.firm, name="Standard", acting_user=system_user(), flat_bps=Decimal("100")
    )
    ops_services.fee_schedule_assign(household=alice_household, schedule=schedule, acting_user=system_user())
    users = {
        "investor": charlie,
        "advisor": alice.user,
        "other_advisor": bob.user,
        "compliance": UserFactory(firm=alice.firm, roles=[Role.COMPLIANCE], is_staff=True),
        "operations": UserFactory(firm=alice.firm, roles=[Role.OPERATIONS], is_staff=True),
    }
    return Firm(users=users, account=account, owner=owner, firm=alice.firm)


def _api(user, make_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, 'read trade')}")
    return client


def _page(user) -> Client:
    client = Client()
    client.force_login(user, backend="kronos.auth.CachedModelBackend")
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="duties", defaults={"confirmed": True})
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def _post_api(client, url, data=None):
    return client.post(url, data or {}, format="json", headers={"Idempotency-Key": f"duties-{next(_keys)}"})


# --- the objects each action works on, made fresh ------------------------------------------------


def _fresh_account(f: Firm):
    """Another account of the household like the first, so one action's orders leave the next its cash."""
    from tests.trading.factories import account_with

    return account_with(f.account.household, cash="100000.00", positions=[("VTI", "50", "90")], model=f.account.model)


def _order_in_review(f: Firm):
    """An order the firm's concentration rule sends to compliance review (VTI above 25%)."""
    from trading.services import order_create

    order = order_create(
        account=_fresh_account(f),
        security="VTI",
        side="buy",
        amount=Decimal("30000"),
        acting_user=f.users["advisor"],
        source="api",
    )
    assert order.status == "pending_review", order.status
    return order


def _proposal(f: Firm):
    from trading.services.proposals import proposal_create_for_accounts

    created = proposal_create_for_accounts(account_ids=[_fresh_account(f).pk], acting_user=f.users["advisor"])
    assert created, "the account should drift from its model"
    return created[0]


def _aml_case(f: Firm):
    from compliance.models import AMLCase, AMLScreening

    screening = AMLScreening.objects.create(investor=f.owner, trigger="manual", best_score=Decimal("91"), is_hit=True)
    return AMLCase.objects.create(investor=f.owner, screening=screening, best_score=Decimal("91"))


def _billing_run(f: Firm):
    from accounts.services import system_user
    from operations.models import BillingRun

    year = 2000 + next(_years)
    return BillingRun.objects.create(
        firm=f.firm, period_start=date(year, 1, 1), period_end=date(year, 3, 31), created_by=system_user()
    )


def _order_count(f: Firm) -> int:
    from trading.models import Order

    return Order.objects.filter(account=f.account).count()


def _transfers(f: Firm, direction: str) -> int:
    from trading.models import CashTransfer

    return CashTransfer.objects.filter(account=f.account, direction=direction).count()


# --- one attempt per action and channel: (response, whether the action took effect) ---------------


def _attempt(action: str, channel: str, role: str, f: Firm, make_token) -> tuple[Any, bool]:
    from compliance.models import AMLCase
    from operations.models import BillingRun
    from trading.models import Order, RebalanceProposal

    user = f.users[role]
    client = _api(user, make_token) if channel == "api" else _page(user)
    account = f.account
    if action == "see account":
        if channel == "api":
            answer = client.get(f"/api/v1/accounts/{account.pk}/")
            return answer, answer.status_code == 200 and answer.json()["id"] == account.pk
        answer = client.get(f"/accounts/{account.pk}/")
        return answer, answer.status_code == 200 and account.custodian_account_number in answer.text
    if action == "place order":
        before = _order_count(f)
        if channel == "api":
            body = {"account": account.pk, "symbol": "BND", "side": "buy", "quantity": "1"}
            answer = _post_api(client, "/api/v1/orders/", body)
        else:
            form = {"symbol": "BND", "side": "buy", "order_type": "market", "quantity": "1"}
            answer = client.post(f"/accounts/{account.pk}/orders/new/", form)
        return answer, _order_count(f) == before + 1
    if action == "approve proposal":
        proposal = _proposal(f)
        if channel == "api":
            answer = _post_api(client, f"/api/v1/rebalance-proposals/{proposal.pk}/approve/")
        else:
            answer = client.post(f"/proposals/{proposal.pk}/approve/")
        status = RebalanceProposal.objects.get(pk=proposal.pk).status
        return answer, status == RebalanceProposal.Status.APPROVED
    if action == "decide compliance review":
        order = _order_in_review(f)
        answer = client.post(f"/compliance/orders/{order.pk}/decide/", {"decision": "reject", "note": "No."})
        return answer, Order.objects.get(pk=order.pk).status != "pending_review"
    if action == "decide AML case":
        case = _aml_case(f)
        answer = client.post(f"/compliance/aml/{case.pk}/", {"decision": "cleared", "note": "Another person."})
        decided = AMLCase.objects.get(pk=case.pk).status != AMLCase.Status.OPEN
        AMLCase.objects.filter(pk=case.pk).update(status=AMLCase.Status.CLEARED)  # unfreeze for what follows
        return answer, decided
    if action == "bill fees":
        before = BillingRun.objects.filter(firm=f.firm).count()
        answer = client.post("/ops/billing/", {"period_start": f"{2000 + next(_years)}-04-01"})
        return answer, BillingRun.objects.filter(firm=f.firm).count() == before + 1
    if action == "approve billing":
        run = _billing_run(f)
        answer = client.post(f"/ops/billing/{run.pk}/approve/")
        return answer, BillingRun.objects.get(pk=run.pk).status == BillingRun.Status.APPROVED
    if action in ("deposit", "withdraw"):
        direction = "deposit" if action == "deposit" else "withdrawal"
        before = _transfers(f, direction)
        if channel == "api":
            path = "deposits" if action == "deposit" else "withdrawals"
            money = {"amount": {"amount": "100.00", "currency": "USD"}}
            answer = _post_api(client, f"/api/v1/accounts/{account.pk}/{path}/", money)
        else:
            answer = client.post(f"/accounts/{account.pk}/transfers/new/", {"direction": direction, "amount": "100"})
        return answer, _transfers(f, direction) == before + 1
    raise AssertionError(action)


CHANNELS: dict[str, tuple[str, ...]] = {
    "see account": ("api", "page"),
    "place order": ("api", "page"),
    # No API offers these: compliance decides and operations bill on their pages only.
    "decide compliance review": ("page",),
    "decide AML case": ("page",),
    "bill fees": ("page",),
    "approve billing": ("page",),
    "deposit": ("api", "page"),
    "withdraw": ("api", "page"),
    "approve proposal": ("api", "page"),
}


def _refusal(answer) -> bool:
    return answer.status_code in (401, 403, 404)


def run_matrix(role: str, f: Firm, make_token, actions: tuple[str, ...] = tuple(CHANNELS)) -> list[str]:
    problems = []
    for action in actions:
        for channel in CHANNELS[action]:
            answer, took_effect = _attempt(action, channel, role, f, make_token)
            allowed = role in ALLOWED[action]
            if answer.status_code >= 500:
                problems.append(f"{role} {action} ({channel}): {answer.status_code}")
            elif allowed and not took_effect:
                problems.append(f"{role} may {action} ({channel}) but it did not happen: {answer.status_code}")
            elif not allowed and took_effect:
                problems.append(f"{role} must not {action} ({channel}) but did: {answer.status_code}")
            elif not allowed and not _refusal(answer):
                problems.append(f"{role} {action} ({channel}): {answer.status_code}, expected a refusal")
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_each_role_does_exactly_its_duties(role, firm, make_token):
    problems = run_matrix(role, firm, make_token)
    assert not problems, "\n".join(problems)


def test_the_matrix_catches_a_firm_wide_trading_rule(firm, make_token, monkeypatch):
    """A mutation: anyone who can see an account may trade it. The matrix must object."""
    from trading import permissions

    monkeypatch.setattr(permissions, "account_may_trade", lambda *, user, account: True)
    trading = ("place order", "approve proposal")
    problems = run_matrix("compliance", firm, make_token, trading) + run_matrix("operations", firm, make_token, trading)
    assert any("compliance must not place order (api)" in p for p in problems), problems
    assert any("operations must not approve proposal (page)" in p for p in problems), problems


# --- a confirmed AML match keeps the accounts frozen ----------------------------------------------


def _confirm_match(f: Firm):
    from compliance import services

    case = _aml_case(f)
    return services.aml_case_decide(
        case=case, decision="confirmed", note="Same person: passport matches.", acting_user=f.users["compliance"]
    )


@pytest.mark.parametrize("aml_mode", ["hard", "soft", "warn", "off"])
def test_a_confirmed_aml_match_refuses_orders_deposits_and_withdrawals(aml_mode, firm, make_token):
    from compliance.models import ComplianceSettings
    from trading.models import CashTransfer, Order

    ComplianceSettings.objects.create(firm=firm.firm, aml_mode=aml_mode)
    _confirm_match(firm)
    advisor, investor = firm.users["advisor"], firm.users["investor"]
    account = firm.account
    api = _api(advisor, make_token)
    ordered = _post_api(
        api, "/api/v1/orders/", {"account": account.pk, "symbol": "BND", "side": "buy", "quantity": "1"}
    )
    _page(advisor).post(
        f"/accounts/{account.pk}/orders/new/", {"symbol": "BND", "side": "buy", "order_type": "market", "quantity": "1"}
    )
    orders = list(Order.objects.filter(account=account))
    assert orders and all(o.status == "rejected" for o in orders), [(o.status, o.status_reason) for o in orders]
    assert ordered.json()["status"] == "rejected" and "AML" in ordered.json()["status_reason"]
    for user in (advisor, investor):
        for path in ("deposits", "withdrawals"):
            answer = _post_api(
                _api(user, make_token),
                f"/api/v1/accounts/{account.pk}/{path}/",
                {"amount": {"amount": "100.00", "currency": "USD"}},
            )
            assert answer.status_code == 400 and "frozen" in answer.json()["detail"], answer.json()
        for direction in ("deposit", "withdrawal"):
            _page(user).post(f"/accounts/{account.pk}/transfers/new/", {"direction": direction, "amount": "100"})
    assert not CashTransfer.objects.filter(account=account).exists()


def test_clearing_the_match_instead_lets_trading_resume(firm, make_token):
    """The contrast: the same steps with the case cleared as a false positive do trade."""
    from compliance import services
    from trading.models import CashTransfer

    services.aml_case_decide(
        case=_aml_case(firm), decision="cleared", note="Another person.", acting_user=firm.users["compliance"]
    )
    api = _api(firm.users["advisor"], make_token)
    ordered = _post_api(
        api, "/api/v1/orders/", {"account": firm.account.pk, "symbol": "BND", "side": "buy", "quantity": "1"}
    )
    assert ordered.status_code == 201 and ordered.json()["status"] != "rejected", ordered.json()
    deposit = _post_api(
        api, f"/api/v1/accounts/{firm.account.pk}/deposits/", {"amount": {"amount": "100.00", "currency": "USD"}}
    )
    assert deposit.status_code == 201
    assert CashTransfer.objects.filter(account=firm.account).count() == 1
