"""Risk profiles (the questionnaire) and the suitability cases a riskier model opens."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Investor, User
from compliance.engine import risk
from compliance.errors import ComplianceError
from compliance.models import RiskProfile, SuitabilityCase
from compliance.services.common import append_note, save_or_error
from compliance.suitability import account_owner_risk_level
from portfolios.models import InvestmentAccount


def risk_profile_submit(*, investor: Investor, answers: dict[str, Any], acting_user: User) -> RiskProfile:
    """Score the questionnaire, save it as the investor's next profile version, and recheck
    the suitability of every account the investor owns (opening cases where the model is now
    too risky)."""
    problems = risk.errors(answers)
    if problems:
        raise ComplianceError("Please answer every question.", errors=problems)
    clean = {key: str(answers[key]) for key in risk.QUESTION_KEYS}
    scored = risk.score(clean)
    with transaction.atomic():
        profile = RiskProfile.objects.select_for_update().filter(investor=investor).first()
        if profile is None:
            profile = RiskProfile(investor=investor, version=0)
        profile.answers = clean
        profile.score = scored.score
        profile.risk_level = scored.risk_level
        profile.version += 1
        profile.completed_at = timezone.now()
        profile.completed_by = acting_user
        save_or_error(profile, acting_user=acting_user, reason=f"risk questionnaire v{profile.version}")
        suitability_recheck_for_investor(investor=investor, acting_user=acting_user)
    return profile


def suitability_recheck_for_investor(*, investor: Investor, acting_user: User | None) -> list[SuitabilityCase]:
    """Open a suitability case for each account of the investor's households whose model is
    now riskier than its owners' (lowest) risk level."""
    opened = []
    accounts = (
        InvestmentAccount.objects.filter(household__members__investor=investor, model__isnull=False)
        .exclude(status=InvestmentAccount.Status.CLOSED)
        .select_related("model")
        .distinct()
    )
    for account in accounts:
        model = account.model
        assert model is not None  # filtered above
        level = account_owner_risk_level(account)
        if level is not None and model.risk_level <= level:
            continue
        if SuitabilityCase.objects.filter(account=account, status=SuitabilityCase.Status.OPEN).exists():
            continue
        reason = (
            f"Model {model.name} (risk {model.risk_level}) is riskier than the owners' level {level}."
            if level is not None
            else f"An owner has no risk profile for model {model.name}."
        )
        case = SuitabilityCase(
            account=account, model_risk_level=model.risk_level, owner_risk_level=level, reason=reason
        )
        opened.append(save_or_error(case, acting_user=acting_user, reason="suitability case opened"))
    return opened


@transaction.atomic
def suitability_case_resolve(*, case: SuitabilityCase, note: str, acting_user: User) -> SuitabilityCase:
    """Close a suitability case once the model was changed or the profile re-taken (with a note)."""
    if not (note or "").strip():
        raise ComplianceError("Write a note saying how it was resolved.", field="note")
    case = SuitabilityCase.objects.select_for_update().get(pk=case.pk)
    if case.status != SuitabilityCase.Status.OPEN:
        raise ComplianceError("This case is already resolved.", code="case_closed")
    case.status = SuitabilityCase.Status.RESOLVED
    case.decided_at = timezone.now()
    case.decided_by = acting_user
    case.notes = append_note(case.notes, note=note, acting_user=acting_user)
    return save_or_error(case, acting_user=acting_user, reason="suitability case resolved")
