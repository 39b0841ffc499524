"""The notifications' world: firm 1 with alice (advisor of the Alvarez household, whose investor
charlie has a login) and bob (advisor of the Bennett household, whose investor bella has one),
a compliance officer and an operations user; firm 2 with its own advisor, household, investor,
compliance officer and operations user. Every role a notification might wrongly reach is there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import Role
from accounts.services import event_emit, events_publish
from notifications.models import Notification
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, InvestorFactory, UserFactory
from tests.trading.factories import account_with


@dataclass
class Firms:
    alice: Any
    bob: Any
    charlie: Any
    bella: Any
    alice_household: Any
    bob_household: Any
    alice_account: Any
    bob_account: Any
    charlie_investor: Any
    compliance: Any
    operations: Any
    zed: Any
    zed_household: Any
    zed_account: Any
    zara: Any
    zed_compliance: Any
    zed_operations: Any


@pytest.fixture
def firms(alice, bob, alice_household, bob_household, charlie) -> Firms:
    bella = UserFactory(email="bella@example.com", full_name="Bella Bennett", roles=[Role.INVESTOR])
    InvestorFactory(user=bella, firm=bob.firm, households=[bob_household], first_name="Bella", last_name="Bennett")
    compliance = UserFactory(email="cora@example.com", firm=alice.firm, roles=[Role.COMPLIANCE], is_staff=True)
    operations = UserFactory(email="otto@example.com", firm=alice.firm, roles=[Role.OPERATIONS], is_staff=True)
    zed = AdvisorFactory(user__email="zed@other.example")
    zed_household = HouseholdFactory(advisor=zed, firm=zed.firm, name="Zephyr Household")
    zara = UserFactory(email="zara@other.example", roles=[Role.INVESTOR])
    InvestorFactory(user=zara, firm=zed.firm, households=[zed_household], first_name="Zara", last_name="Zephyr")
    zed_compliance = UserFactory(email="zcomp@other.example", firm=zed.firm, roles=[Role.COMPLIANCE], is_staff=True)
    zed_operations = UserFactory(email="zops@other.example", firm=zed.firm, roles=[Role.OPERATIONS], is_staff=True)
    return Firms(
        alice=alice,
        bob=bob,
        charlie=charlie,
        bella=bella,
        alice_household=alice_household,
        bob_household=bob_household,
        alice_account=account_with(alice_household, name="Alvarez Joint"),
        bob_account=account_with(bob_household, name="Bennett IRA"),
        charlie_investor=charlie.investor,
        compliance=compliance,
        operations=operations,
        zed=zed,
        zed_household=zed_household,
        zed_account=account_with(zed_household, name="Zephyr Trust"),
        zara=zara,
        zed_compliance=zed_compliance,
        zed_operations=zed_operations,
    )


def emit_for_account(kind: str, account: Any, payload: dict[str, Any], **extra: Any) -> Any:
    return event_emit(
        kind=kind,
        firm=account.household.firm_id,
        household=account.household_id,
        account=account.pk,
        payload={"account": account.pk, **payload},
        **extra,
    )


def publish() -> None:
    events_publish()


def told(kind: str | None = None) -> set[str]:
    """The emails of the users notified (of `kind`)."""
    rows = Notification.objects.all() if kind is None else Notification.objects.filter(kind=kind)
    return set(rows.values_list("user__email", flat=True))
