"""The demo firm's compliance state: deterministic, called by `seed_demo` after portfolios and trading.

- KYC approved for every investor but one (pending with the sandbox provider);
- a sample watch list of fictional names, one of which matches a demo investor: an open AML case;
- risk profiles for every owner, at or above the riskiest model of their household's accounts
  (so the demo starts suitable); investor@demo.kronos is at level 7;
- GLD on the firm's restricted list; the firm's default pre-trade rules.
"""

import functools
from datetime import date
from itertools import product
from typing import Any

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import Investor, User
from compliance import services
from compliance.engine import risk
from compliance.models import AMLScreening, ComplianceSettings, KYCVerification, RiskProfile
from kronos.history import save_attributed
from portfolios.models import InvestmentAccount, Security

DEMO_INVESTOR_LEVEL = 7

WATCHLIST_CSV = """name,aliases,date_of_birth,country,list
Dragomir Vlasenko,Драгомир Власенко;D. Vlasenko,1964-02-11,RU,Demo Sanctions List
Yusuf Al-Karimi,Youssef Al Karimi;Yousef Karimi,1971-08-30,SY,Demo Sanctions List
Ingrid Solvang,,1959-12-02,NO,Demo PEP List
Tobias Wexley,Toby Wexley,1980-04-17,GB,Demo Sanctions List
{hit_name},{hit_alias},{hit_dob},US,Demo PEP List
"""


def answers_for_level(level: int) -> dict[str, str]:
    """The first set of answers (in questionnaire order) that scores `level` (a copy: callers may edit it)."""
    return dict(_answers_for_level(level))


def clear_for_trading(investor: Investor, *, acting_user: User, reference: str, reason: str, level: int = 10) -> None:
    """KYC approved and a completed risk profile at `level`, as a provider's answer and a finished
    questionnaire would leave them: for the simulated firm and the benchmarks, which open accounts
    without the onboarding walk."""
    now = timezone.now()
    save_attributed(
        KYCVerification(
            investor=investor,
            status=KYCVerification.Status.APPROVED,
            provider="sandbox",
            provider_reference=reference,
            started_at=now,
            completed_at=now,
            provider_reason="OK",
        ),
        acting_user=acting_user,
        reason=reason,
        validate=False,
    )
    answers = answers_for_level(level)
    scored = risk.score(answers)
    save_attributed(
        RiskProfile(
            investor=investor,
            answers=answers,
            score=scored.score,
            risk_level=scored.risk_level,
            version=1,
            completed_at=now,
            completed_by=acting_user,
        ),
        acting_user=acting_user,
        reason=reason,
        validate=False,
    )


@functools.cache
def _answers_for_level(level: int) -> dict[str, str]:
    # A search through the questionnaire's combinations: thousands of scorings for the high levels.
    for combo in product(*[[c for c, _, _ in q.choices] for q in risk.QUESTIONS]):
        answers = dict(zip(risk.QUESTION_KEYS, combo, strict=True))
        if risk.score(answers).risk_level == level:
            return answers
    raise ValueError(level)


def seed(demo: Any) -> None:
    user = demo.acting_user
    now = timezone.now()
    ComplianceSettings.objects.get_or_create(firm=demo.firm)

    investors = list(demo.investors)
    primary = investors[0]
    # The pending one and the AML hit live in other households than the demo investor's.
    pending = investors[-1]
    hit = investors[7]

    bulk_create_with_history(
        [
            KYCVerification(
                investor=inv,
                status=KYCVerification.Status.PENDING if inv.pk == pending.pk else KYCVerification.Status.APPROVED,
                provider="sandbox",
                provider_reference=f"demo-kyc-{inv.pk}",
                started_at=now,
                completed_at=None if inv.pk == pending.pk else now,
                provider_reason="" if inv.pk == pending.pk else "OK",
            )
            for inv in investors
        ],
        KYCVerification,
        default_user=user,
        default_change_reason="demo seed",
    )

    # Risk profiles: each owner at the riskiest model of their household's accounts (or 5).
    household_risk: dict[int, int] = {}
    for household_id, model_risk in InvestmentAccount.objects.filter(
        household__in=demo.households, model__isnull=False
    ).values_list("household_id", "model__risk_level"):
        household_risk[household_id] = max(model_risk, household_risk.get(household_id, 1))
    answer_sets = {level: answers_for_level(level) for level in range(1, 11)}
    profiles = []
    for inv in investors:
        household_ids = [h.pk for h in inv.households.all()]
        level = max([household_risk.get(h, 5) for h in household_ids] or [5])
        if inv.pk == primary.pk:
            level = max(level, DEMO_INVESTOR_LEVEL)
        answers = answer_sets[level]
        scored = risk.score(answers)
        profiles.append(
            RiskProfile(
                investor=inv,
                answers=answers,
                score=scored.score,
                risk_level=scored.risk_level,
                version=1,
                completed_at=now,
                completed_by=user,
            )
        )
    bulk_create_with_history(profiles, RiskProfile, default_user=user, default_change_reason="demo seed")

    # A watch list with one fictional entry that matches a demo investor (a near-spelling).
    hit_name = f"{hit.first_name} {hit.last_name[:-1]}{hit.last_name[-1] * 2}"
    services.watchlist_import(
        csv_text=WATCHLIST_CSV.format(
            hit_name=hit_name,
            hit_alias=f"{hit.last_name} {hit.first_name}",
            hit_dob=(hit.date_of_birth or date(1970, 1, 1)).isoformat(),
        ),
        acting_user=user,
    )
    for inv in investors:
        services.aml_screen_investor(investor=inv, trigger=AMLScreening.Trigger.ONBOARDING, acting_user=user)

    gld = Security.objects.filter(symbol="GLD").first()
    if gld is not None:
        services.restricted_security_add(
            firm=demo.firm, security=gld, reason="Firm research coverage: trading blackout", acting_user=user
        )
    save_attributed(
        ComplianceSettings.objects.get(firm=demo.firm), acting_user=user, reason="demo seed", validate=False
    )
