"""Reads of onboarding: each household's steps with their status and what is missing, and
its documents — always scoped to the user asking (404 for anyone else)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Household, Investor, User
from accounts.selectors import household_get_for_user, household_list_for_user
from accounts.services import identification_missing
from compliance.models import AMLCase, AMLScreening, KYCVerification, RiskProfile
from onboarding.models import REQUIRED_KINDS, AgreementKind, AgreementTemplate, HouseholdDocument, Signature
from onboarding.permissions import may_read_documents
from portfolios.models import InvestmentAccount
from trading.models import CustodianAccountRequest

DONE, WAITING, ACTION, BLOCKED = "done", "waiting", "action_needed", "blocked"


@dataclass
class Step:
    key: str
    label: str
    status: str  # done | waiting | action_needed | blocked
    missing: list[str] = field(default_factory=list)
    subject: str = ""  # the investor or account the step is for

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "status": self.status,
            "missing": self.missing,
            "subject": self.subject,
        }


@dataclass
class Onboarding:
    household: Household
    steps: list[Step]

    @property
    def complete(self) -> bool:
        return all(s.status == DONE for s in self.steps)


def onboarding_for(household: Household) -> Onboarding:
    """Every step of the household's onboarding (a fixed number of queries)."""
    investors = [m.investor for m in household.members.select_related("investor__user").order_by("id")]
    ids = [i.pk for i in investors]
    kyc = {k.investor_id: k for k in KYCVerification.objects.filter(investor_id__in=ids)}
    aml_open = set(
        AMLCase.objects.filter(investor_id__in=ids, status__in=AMLCase.FREEZING).values_list("investor_id", flat=True)
    )
    screened = set(AMLScreening.objects.filter(investor_id__in=ids).values_list("investor_id", flat=True))
    risk = set(RiskProfile.objects.filter(investor_id__in=ids).values_list("investor_id", flat=True))
    signed = set(Signature.objects.filter(household=household).values_list("investor_id", "template__kind"))
    active = set(
        AgreementTemplate.objects.filter(firm_id=household.firm_id, is_active=True).values_list("kind", flat=True)
    )
    accounts = list(household.investment_accounts.prefetch_related("owners__investor").order_by("id"))
    opening_requests = {r.account_id: r for r in CustodianAccountRequest.objects.filter(account__in=accounts)}
    labels = dict(AgreementKind.choices)

    steps: list[Step] = [Step("household", "Household created", DONE, subject=household.name)]
    if not investors:
        steps.append(Step("investors", "Investors added", ACTION, ["Add at least one investor."]))
    for inv in investors:
        name = inv.full_name
        missing = identification_missing(inv)
        steps.append(
            Step(
                "identification",
                "Customer identification",
                ACTION if missing else DONE,
                [f"{m.replace('_', ' ')}" for m in missing],
                name,
            )
        )
        k = kyc.get(inv.pk)
        k_status = k.status if k else KYCVerification.Status.NOT_STARTED
        kyc_state = {
            KYCVerification.Status.APPROVED: DONE,
            KYCVerification.Status.PENDING: WAITING,
            KYCVerification.Status.NEEDS_REVIEW: WAITING,
            KYCVerification.Status.REJECTED: BLOCKED,
        }.get(k_status, ACTION)
        kyc_missing = {
            ACTION: ["Submit the household to start identity verification."],
            WAITING: ["Waiting for the KYC provider or a compliance officer's review."],
            BLOCKED: ["Identity verification was rejected: correct the data and submit again."],
        }.get(kyc_state, [])
        steps.append(Step("kyc", "Identity verification (KYC)", kyc_state, kyc_missing, name))
        if inv.pk in aml_open:
            steps.append(
                Step("aml", "AML screening", BLOCKED, ["A possible watch-list match is with compliance."], name)
            )
        elif inv.pk in screened:
            steps.append(Step("aml", "AML screening", DONE, [], name))
        else:
            steps.append(Step("aml", "AML screening", ACTION, ["Submit the household to screen the investor."], name))
        if inv.user is None:
            steps.append(
                Step(
                    "invitation", "Invitation accepted", ACTION, ["Submit the household to invite the investor."], name
                )
            )
        elif not inv.user.has_usable_password():
            steps.append(
                Step("invitation", "Invitation accepted", WAITING, ["The investor has not set a password yet."], name)
            )
        else:
            steps.append(Step("invitation", "Invitation accepted", DONE, [], name))
        steps.append(
            Step(
                "risk_questionnaire",
                "Risk questionnaire",
                DONE if inv.pk in risk else WAITING,
                [] if inv.pk in risk else ["The investor has not answered the risk questionnaire."],
                name,
            )
        )
        unsigned = [labels[k] for k in REQUIRED_KINDS if (inv.pk, k) not in signed]
        no_template = [labels[k] for k in REQUIRED_KINDS if k not in active and (inv.pk, k) not in signed]
        if no_template:
            status, missing_docs = BLOCKED, [f"Operations have not uploaded: {', '.join(no_template)}."]
        elif unsigned:
            status, missing_docs = WAITING, [f"Not signed yet: {', '.join(unsigned)}."]
        else:
            status, missing_docs = DONE, []
        steps.append(Step("agreements", "Agreements signed", status, missing_docs, name))
    if not accounts:
        steps.append(Step("account", "Account opened", ACTION, ["Open at least one account."]))
    for account in accounts:
        subject = f"{account.name} ({account.get_account_type_display()})"
        if account.status != InvestmentAccount.Status.PENDING:
            steps.append(
                Step(
                    "account", "Account opened", DONE, [f"Custodian number {account.custodian_account_number}"], subject
                )
            )
            continue
        req = opening_requests.get(account.pk)
        owners = [o.investor for o in account.owners.all()]
        waiting = []
        for inv in owners:
            k = kyc.get(inv.pk)
            if k is None or k.status != KYCVerification.Status.APPROVED:
                waiting.append(f"{inv.full_name}'s identity verification")
            if inv.pk in aml_open:
                waiting.append(f"{inv.full_name}'s AML case")
        if req is not None and req.status == req.Status.REJECTED:
            steps.append(Step("account", "Account opened", BLOCKED, [req.last_error], subject))
        elif req is not None and req.status == req.Status.FAILED:
            steps.append(
                Step(
                    "account",
                    "Account opened",
                    ACTION,
                    [f"The custodian could not be reached ({req.last_error}); submit again."],
                    subject,
                )
            )
        elif req is not None:
            steps.append(
                Step(
                    "account",
                    "Account opened",
                    WAITING,
                    ["Asked the custodian; waiting for the account number."],
                    subject,
                )
            )
        else:
            steps.append(
                Step(
                    "account",
                    "Account opened",
                    WAITING if waiting else ACTION,
                    [f"Waiting for {w}." for w in waiting] or ["Submit the household."],
                    subject,
                )
            )
    return Onboarding(household=household, steps=steps)


def onboarding_get_for_user(*, user: User, pk: int | str) -> Onboarding:
    return onboarding_for(household_get_for_user(user=user, pk=pk))


def document_list_for_user(*, user: User, household: Household) -> QuerySet[HouseholdDocument]:
    """The household's documents for anyone who may see the household except operations-only
    staff (investors, the advisor, compliance); content deferred."""
    if not may_read_documents(user=user, household=household):
        return HouseholdDocument.objects.none()
    return HouseholdDocument.objects.filter(household=household).defer("content").select_related("signature__investor")


def document_get_for_user(*, user: User, pk: int | str) -> HouseholdDocument:
    """One document the user may open, or 404."""
    document = get_object_or_404(HouseholdDocument.objects.select_related("household__advisor"), pk=pk)
    if not household_list_for_user(user=user).filter(pk=document.household_id).exists():
        raise Http404
    if not may_read_documents(user=user, household=document.household):
        raise Http404
    return document


def investor_self(user: User) -> Investor | None:
    return Investor.objects.filter(user=user).select_related("firm").first()
