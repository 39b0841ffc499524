"""Reads of the compliance domain, scoped to the user asking.

Compliance officers see their firm; advisors their households' investors; investors
themselves. Anything else is a 404.
"""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Household, HouseholdMember, Investor, User
from accounts.selectors import household_scope_q
from compliance.models import AMLCase, KYCVerification, RiskProfile, SuitabilityCase
from compliance.permissions import firm_filter
from trading.models import Order


def investor_list_for_user(*, user: User) -> QuerySet[Investor]:
    scoped = Investor.objects.filter(household_scope_q(user=user, prefix="households__")).values("pk")
    return Investor.objects.filter(pk__in=scoped).select_related("kyc", "risk_profile")


def investor_get_for_user(*, user: User, pk: Any) -> Investor:
    return get_object_or_404(investor_list_for_user(user=user), pk=pk)


def kyc_queue(*, user: User) -> QuerySet[KYCVerification]:
    """Verifications waiting on a person (needs review) or on the provider (pending)."""
    return (
        KYCVerification.objects.filter(
            status__in=[KYCVerification.Status.NEEDS_REVIEW, KYCVerification.Status.PENDING],
            **firm_filter(user, "investor__"),
        )
        .select_related("investor")
        .order_by("-status", "started_at", "id")
    )


def kyc_get_for_officer(*, user: User, pk: Any) -> KYCVerification:
    return get_object_or_404(
        KYCVerification.objects.filter(**firm_filter(user, "investor__")).select_related("investor"), pk=pk
    )


def aml_case_list(*, user: User, status: str = AMLCase.Status.OPEN) -> QuerySet[AMLCase]:
    qs = AMLCase.objects.filter(**firm_filter(user, "investor__")).select_related("investor", "decided_by")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("opened_at", "id")


def aml_case_get_for_officer(*, user: User, pk: Any) -> AMLCase:
    return get_object_or_404(
        AMLCase.objects.filter(**firm_filter(user, "investor__")).select_related("investor", "screening", "decided_by"),
        pk=pk,
    )


def suitability_case_list(*, user: User) -> QuerySet[SuitabilityCase]:
    return (
        SuitabilityCase.objects.filter(status=SuitabilityCase.Status.OPEN, **firm_filter(user, "account__household__"))
        .select_related("account__household", "account__model")
        .order_by("opened_at", "id")
    )


def suitability_case_get_for_officer(*, user: User, pk: Any) -> SuitabilityCase:
    return get_object_or_404(
        SuitabilityCase.objects.filter(**firm_filter(user, "account__household__")).select_related("account"), pk=pk
    )


def household_compliance(*, household: Household) -> list[dict[str, Any]]:
    """Each member's KYC status, risk profile and open AML case, in three queries."""
    members = list(
        HouseholdMember.objects.filter(household=household)
        .select_related("investor__kyc", "investor__risk_profile")
        .prefetch_related(
            Prefetch(
                "investor__aml_cases", queryset=AMLCase.objects.filter(status__in=AMLCase.FREEZING), to_attr="frozen"
            )
        )
        .order_by("investor__last_name", "investor_id")
    )
    rows = []
    for m in members:
        inv = m.investor
        kyc = getattr(inv, "kyc", None)
        profile: RiskProfile | None = getattr(inv, "risk_profile", None)
        rows.append(
            {
                "investor": inv,
                "relationship": m.get_relationship_display(),
                "kyc_status": kyc.status if kyc else KYCVerification.Status.NOT_STARTED,
                "kyc_label": kyc.get_status_display() if kyc else "Not started",
                "risk_level": profile.risk_level if profile else None,
                "profile_version": profile.version if profile else None,
                "aml_frozen": bool(inv.frozen),
            }
        )
    return rows


def orders_in_review(*, user: User) -> QuerySet[Order] | None:
    """Orders waiting for compliance review in the officer's firm, with their checks (None is kept
    in the signature for the callers that show no queue)."""
    return (
        Order.objects.filter(status="pending_review", **firm_filter(user, "account__household__"))
        .select_related("account__household", "security", "created_by")
        .prefetch_related("checks")
        .order_by("created_at", "id")
    )
