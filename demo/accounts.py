"""The demo firm's people: deterministic, so every run builds the same firm.

`seed_demo` calls `seed()` here first, then the `demo.seed()` of each later app in
dependency order, passing along what this one built.
"""

import random
from dataclasses import dataclass, field
from datetime import date

from accounts import services
from accounts.models import Advisor, Firm, Household, Investor, Role, User

DEMO_PASSWORD = "kronos-demo"  # noqa: S105  -- the documented demo password  # nosec B105 -- the documented demo password
DEMO_FIRM = "Demo Advisory"
ADVISOR_EMAIL = "advisor@demo.kronos"
INVESTOR_EMAIL = "investor@demo.kronos"
COMPLIANCE_EMAIL = "compliance@demo.kronos"
OPS_EMAIL = "ops@demo.kronos"
SECOND_ADVISOR_EMAIL = "advisor2@demo.kronos"
HOUSEHOLD_COUNT = 30

FIRST_NAMES = [
    "Ava",
    "Liam",
    "Mia",
    "Noah",
    "Emma",
    "Oliver",
    "Sofia",
    "Elijah",
    "Amara",
    "Lucas",
    "Chloe",
    "Mateo",
    "Priya",
    "Kenji",
    "Zoe",
    "Omar",
    "Ines",
    "Tomas",
    "Grace",
    "Ravi",
]
LAST_NAMES = [
    "Alvarez",
    "Bennett",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ishikawa",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmer",
    "Abbott",
    "Brooks",
    "Castillo",
    "Dalton",
]


@dataclass
class DemoFirm:
    firm: Firm
    advisor: Advisor
    second_advisor: Advisor
    compliance: User
    operations: User
    investor_user: User
    households: list[Household] = field(default_factory=list)
    investors: list[Investor] = field(default_factory=list)
    acting_user: User | None = None


def logins() -> list[tuple[str, str, str]]:
    return [
        ("advisor", ADVISOR_EMAIL, DEMO_PASSWORD),
        ("investor", INVESTOR_EMAIL, DEMO_PASSWORD),
        ("compliance officer", COMPLIANCE_EMAIL, DEMO_PASSWORD),
        ("operations", OPS_EMAIL, DEMO_PASSWORD),
    ]


def seed() -> DemoFirm:
    rng = random.Random(20260101)  # noqa: S311 -- deterministic demo data, not security  # nosec B311 -- not for security: deterministic demo data or retry jitter
    system = services.system_user()
    firm = services.firm_create(name=DEMO_FIRM, slug="demo", acting_user=system)
    advisor_user = services.user_create(
        email=ADVISOR_EMAIL, password=DEMO_PASSWORD, full_name="Alex Morgan", firm=firm, acting_user=system
    )
    advisor = services.advisor_create(user=advisor_user, firm=firm, crd_number="7001234", acting_user=system)
    second_user = services.user_create(
        email=SECOND_ADVISOR_EMAIL, password=DEMO_PASSWORD, full_name="Jordan Lee", firm=firm, acting_user=system
    )
    second_advisor = services.advisor_create(user=second_user, firm=firm, crd_number="7005678", acting_user=system)
    compliance = services.user_create(
        email=COMPLIANCE_EMAIL,
        password=DEMO_PASSWORD,
        full_name="Casey Brooks",
        firm=firm,
        roles=[Role.COMPLIANCE],
        is_staff=True,
        acting_user=system,
    )
    operations = services.user_create(
        email=OPS_EMAIL,
        password=DEMO_PASSWORD,
        full_name="Sam Rivera",
        firm=firm,
        roles=[Role.OPERATIONS],
        is_staff=True,
        acting_user=system,
    )
    investor_user = services.user_create(
        email=INVESTOR_EMAIL, password=DEMO_PASSWORD, full_name="Riley Carter", acting_user=system
    )
    demo = DemoFirm(
        firm=firm,
        advisor=advisor,
        second_advisor=second_advisor,
        compliance=compliance,
        operations=operations,
        investor_user=investor_user,
        acting_user=system,
    )

    for i in range(HOUSEHOLD_COUNT):
        last = LAST_NAMES[i % len(LAST_NAMES)]
        owner = second_advisor if i % 6 == 5 else advisor
        household = services.household_create(firm=firm, name=f"{last} Household", advisor=owner, acting_user=system)
        demo.households.append(household)
        first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
        born = date(1950 + rng.randrange(45), 1 + rng.randrange(12), 1 + rng.randrange(28))
        investor = services.investor_create(
            firm=firm,
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}@example.com",
            date_of_birth=born,
            household=household,
            acting_user=system,
            user=investor_user if i == 0 else None,
        )
        if i == 0:
            investor.first_name, investor.last_name = "Riley", "Carter"
            investor.email = INVESTOR_EMAIL
            investor._history_user = system  # type: ignore[attr-defined]
            investor.save()
        demo.investors.append(investor)
        if i % 3 == 0:
            partner = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
            demo.investors.append(
                services.investor_create(
                    firm=firm,
                    first_name=partner,
                    last_name=last,
                    household=household,
                    relationship="joint",
                    date_of_birth=date(1955 + rng.randrange(40), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                    acting_user=system,
                )
            )
    return demo
