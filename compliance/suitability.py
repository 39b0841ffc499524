"""Suitability: an account's model may not be riskier than its owners' risk level.

The owners are the household's primary and joint members; their level is the lowest risk
level among them (the most cautious owner decides). An owner without a risk profile makes
the account unsuitable for any model until they complete the questionnaire.
"""

from accounts.models import HouseholdMember
from compliance.errors import ComplianceError
from compliance.models import RiskProfile
from portfolios.models import InvestmentAccount, ModelPortfolio

OWNER_RELATIONSHIPS = (HouseholdMember.Relationship.PRIMARY, HouseholdMember.Relationship.JOINT)


def owner_levels(household_id: int) -> tuple[int, list[tuple[str, int | None]]]:
    """(number of owners, [(owner name, risk level or None)]) in two queries."""
    members = list(
        HouseholdMember.objects.filter(household_id=household_id, relationship__in=OWNER_RELATIONSHIPS)
        .select_related("investor")
        .order_by("investor_id")
    )
    levels = dict(
        RiskProfile.objects.filter(investor_id__in=[m.investor_id for m in members]).values_list(
            "investor_id", "risk_level"
        )
    )
    return len(members), [(m.investor.full_name, levels.get(m.investor_id)) for m in members]


def account_owner_risk_level(account: InvestmentAccount) -> int | None:
    """The lowest risk level among the account's owners; None if an owner has no profile (or no owners)."""
    count, levels = owner_levels(account.household_id)
    if not count or any(level is None for _, level in levels):
        return None
    return min(level for _, level in levels if level is not None)


def suitability_problem(*, account: InvestmentAccount, model: ModelPortfolio | None) -> str | None:
    """Why `model` is unsuitable for `account`'s owners, or None if it is suitable."""
    if model is None:
        return None
    count, levels = owner_levels(account.household_id)
    if not count:
        return "The account's household has no owner with a risk profile."
    missing = [name for name, level in levels if level is None]
    if missing:
        return f"{', '.join(missing)} must complete the risk questionnaire first."
    lowest = min(level for _, level in levels if level is not None)
    if model.risk_level > lowest:
        return f"The model {model.name} (risk {model.risk_level}) is riskier than the owners' risk level {lowest}."
    return None


def check_model_assignment(*, account: InvestmentAccount, model: ModelPortfolio) -> None:
    """portfolios.checks.MODEL_ASSIGN_CHECKS (registered by compliance's AppConfig): raise ComplianceError if `model` is
    riskier than the lowest risk level of `account`'s owners (or an owner has no profile)."""
    problem = suitability_problem(account=account, model=model)
    if problem:
        raise ComplianceError(problem, field="model", code="unsuitable")
