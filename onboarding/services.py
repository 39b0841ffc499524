"""Writes of onboarding: submitting a household, opening its accounts once their owners are
cleared, invitations, e-signatures and the household's documents.

`onboarding_submit` starts each investor's KYC and AML screening (compliance's onboarding
workflow, `compliance.onboarding.onboard_investor`), invites each investor (who then answers
the risk questionnaire and signs), and opens every pending account whose owners have cleared
KYC and AML at the custodian (`trading.services.account_opening`). Accounts waiting on a
KYC result are opened when it arrives (`kyc_decided`, compliance's hook) or when created
after their owners cleared (`account_created`, portfolios' hook).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.errors import AccountsError
from accounts.models import Firm, Household, HouseholdMember, Investor, User
from accounts.services import event_emit, identification_missing, invitation_send, system_user
from compliance.errors import ComplianceError
from compliance.models import AMLCase, KYCVerification
from compliance.onboarding import onboard_investor
from kronos.history import save_attributed
from onboarding.errors import OnboardingError
from onboarding.models import REQUIRED_KINDS, AgreementTemplate, HouseholdDocument, Signature
from onboarding.pdf import render_pdf
from portfolios.models import InvestmentAccount
from trading.errors import TradingError
from trading.services import account_opening_request

logger = logging.getLogger(__name__)


# --- Submitting and advancing -------------------------------------------------------------------


@dataclass
class SubmitResult:
    screened: list[str]
    invited: list[str]
    requested: list[str]
    problems: list[str]


def _submit_errors(household: Household) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    investors = [m.investor for m in household.members.select_related("investor").order_by("id")]
    if not investors:
        errors["investors"] = ["Add at least one investor before submitting."]
    for investor in investors:
        missing = identification_missing(investor)
        if missing:
            errors.setdefault("investors", []).append(
                f"{investor.full_name} is missing: {', '.join(m.replace('_', ' ') for m in missing)}."
            )
    if not household.investment_accounts.exists():
        errors["accounts"] = ["Open at least one account before submitting."]
    return errors


def onboarding_submit(*, household: Household, acting_user: User, base_url: str) -> SubmitResult:
    """Start onboarding a household. Refused (nothing done) while an investor's identification
    is incomplete or there is no account. Then, each step on its own and safe to repeat:
    KYC and AML screening for every investor not yet started (or rejected before), an
    invitation to every investor with an email and no password yet, and the custodian asked to
    open each pending account whose owners are cleared."""
    errors = _submit_errors(household)
    if errors:
        field = next(iter(errors))
        raise OnboardingError(errors[field][0], field=field, errors=errors, status_code=409)
    result = SubmitResult(screened=[], invited=[], requested=[], problems=[])
    investors = [m.investor for m in household.members.select_related("investor__user").order_by("id")]
    kyc = dict(KYCVerification.objects.filter(investor__in=investors).values_list("investor_id", "status"))
    for investor in investors:
        if kyc.get(investor.pk, KYCVerification.Status.NOT_STARTED) in (
            KYCVerification.Status.NOT_STARTED,
            KYCVerification.Status.REJECTED,
        ):
            try:
                onboard_investor(investor=investor, acting_user=acting_user)
            except ComplianceError as exc:
                result.problems.append(f"{investor.full_name}: {exc.message}")
            else:
                result.screened.append(investor.full_name)
        if investor.email and (investor.user is None or not investor.user.has_usable_password()):
            try:
                invitation_send(investor=investor, acting_user=acting_user, base_url=base_url)
            except AccountsError as exc:
                result.problems.append(f"{investor.full_name}: {exc.message}")
            else:
                result.invited.append(investor.full_name)
    result.requested = onboarding_advance(household=household, acting_user=acting_user)
    return result


def owners_cleared(account: InvestmentAccount) -> tuple[bool, list[str]]:
    """Whether every owner of the account has passed KYC and has no open or confirmed AML case,
    with what is still missing."""
    owners = [o.investor for o in account.owners.select_related("investor")]
    waiting: list[str] = []
    if not owners:
        return False, ["The account has no owners."]
    kyc = dict(KYCVerification.objects.filter(investor__in=owners).values_list("investor_id", "status"))
    frozen = set(
        AMLCase.objects.filter(investor__in=owners, status__in=AMLCase.FREEZING).values_list("investor_id", flat=True)
    )
    for investor in owners:
        status = kyc.get(investor.pk, KYCVerification.Status.NOT_STARTED)
        if status != KYCVerification.Status.APPROVED:
            waiting.append(
                f"{investor.full_name}'s identity verification ({KYCVerification.Status(status).label.lower()})"
            )
        if investor.pk in frozen:
            waiting.append(f"{investor.full_name}'s AML case")
    return not waiting, waiting


def onboarding_advance(*, household: Household, acting_user: User | None = None) -> list[str]:
    """Ask the custodian to open every pending account of the household whose owners are
    cleared; returns the names of the accounts asked for."""
    acting_user = acting_user or system_user()
    asked = []
    for account in household.investment_accounts.filter(status=InvestmentAccount.Status.PENDING).order_by("id"):
        cleared, _ = owners_cleared(account)
        if not cleared:
            continue
        try:
            account_opening_request(account=account, acting_user=acting_user)
        except TradingError as exc:
            logger.warning("account opening not asked", extra={"account_id": account.pk, "error": exc.message})
            continue
        asked.append(account.name)
    return asked


def kyc_decided(*, investor_id: int) -> None:
    """compliance's KYC_DECIDED_HOOKS (registered in onboarding's AppConfig): open what waited on this investor."""
    for household in Household.objects.filter(members__investor_id=investor_id).distinct():
        onboarding_advance(household=household)


def account_created(*, account_id: int) -> None:
    """portfolios' account-created hook (portfolios.checks.ACCOUNT_CREATED_HOOKS): a pending account whose owners are
    already cleared is asked for at once."""
    account = InvestmentAccount.objects.select_related("household").filter(pk=account_id).first()
    if account is not None and account.status == InvestmentAccount.Status.PENDING:
        try:
            onboarding_advance(household=account.household)
        except Exception:  # the account is saved; the next advance asks again
            logger.exception("account opening after creation failed", extra={"account_id": account_id})


# --- Agreements ---------------------------------------------------------------------------------


@transaction.atomic
def template_upload(
    *, firm: Firm, kind: str, version: str, title: str, body: str, acting_user: User | None
) -> AgreementTemplate:
    """Add a version of one of the firm's documents and make it the active one (the previous
    active version stays, with its signatures)."""
    body = (body or "").strip()
    if not body:
        raise OnboardingError("The document has no text.", field="body")
    if AgreementTemplate.objects.filter(firm=firm, kind=kind, version=version.strip()).exists():
        raise OnboardingError(
            f"Version {version} of this document already exists: give a new version.", field="version"
        )
    for old in AgreementTemplate.objects.select_for_update().filter(firm=firm, kind=kind, is_active=True):
        old.is_active = False
        save_attributed(old, acting_user=acting_user, reason="superseded", validate=False)
    template = AgreementTemplate(
        firm=firm,
        kind=kind,
        version=version.strip(),
        title=title.strip(),
        body=body,
        sha256=AgreementTemplate.digest(body),
        uploaded_by=acting_user,
        is_active=True,
    )
    try:
        return save_attributed(template, acting_user=acting_user, reason="template uploaded")
    except Exception as exc:
        if isinstance(exc, ValidationError):
            raise OnboardingError.from_validation(exc) from exc
        raise


def agreements_for(
    *, household: Household, investor: Investor
) -> list[tuple[str, AgreementTemplate | None, Signature | None]]:
    """For each required kind: (kind, the active template, the investor's signature of any
    version of that kind in this household, if any)."""
    active = {t.kind: t for t in AgreementTemplate.objects.filter(firm_id=household.firm_id, is_active=True)}
    signed = {
        s.template.kind: s
        for s in Signature.objects.filter(household=household, investor=investor)
        .select_related("template")
        .order_by("signed_at")
    }
    return [(kind, active.get(kind), signed.get(kind)) for kind in REQUIRED_KINDS]


def agreement_sign(
    *,
    household: Household,
    investor: Investor,
    template: AgreementTemplate,
    signer: User,
    signed_name: str,
    ip_address: str | None,
    user_agent: str,
) -> Signature:
    """The investor e-signs one document version. Validated: the signer is the investor's own
    login and a member of the household, the version is the firm's active one, the typed name
    is the investor's name, and the version is not signed already. Guaranteed: the signature
    (version, SHA-256 of the text, signer, time, IP, user agent) and the signed PDF in the
    household's documents are written together, or nothing is."""
    if investor.user_id != signer.pk:
        raise OnboardingError("Only the investor themself can sign.", field="investor", code="forbidden")
    if not HouseholdMember.objects.filter(household=household, investor=investor).exists():
        raise OnboardingError("The investor is not a member of this household.", field="investor")
    if template.firm_id != household.firm_id or not template.is_active:
        raise OnboardingError(
            "This version of the document is no longer the one to sign; reload the page.", field="template"
        )
    typed = " ".join((signed_name or "").split())
    if typed.lower() not in {investor.full_name.lower(), investor.legal_name.lower()}:
        raise OnboardingError(f"Type your name as {investor.full_name} to sign.", field="signed_name")
    if AgreementTemplate.digest(template.body) != template.sha256:
        raise OnboardingError("The document's text does not match its recorded hash; operations must re-upload it.")
    signed_at = timezone.now()
    user_agent = (user_agent or "")[:500]
    pdf = render_pdf(
        "onboarding/signed_document.pdf.html",
        {
            "template": template,
            "firm": household.firm,
            "household": household,
            "investor": investor,
            "signer": signer,
            "signed_name": typed,
            "signed_at": timezone.localtime(signed_at),
            "ip_address": ip_address,
            "user_agent": user_agent,
            "paragraphs": [p.strip() for p in template.body.split("\n\n") if p.strip()],
        },
    )
    try:
        with transaction.atomic():
            document = HouseholdDocument(
                household=household,
                title=f"{template.title} v{template.version} — signed by {investor.full_name}",
                kind=template.kind,
                filename=f"{template.kind}-v{template.version}-{investor.last_name.lower()}-{signed_at:%Y%m%d%H%M%S}.pdf",
                content_type="application/pdf",
                content=pdf,
                sha256=hashlib.sha256(pdf).hexdigest(),
                size=len(pdf),
                created_by=signer,
            )
            save_attributed(document, acting_user=signer, reason="signed document stored", validate=False)
            signature = Signature(
                template=template,
                household=household,
                investor=investor,
                signer=signer,
                document_version=template.version,
                document_sha256=template.sha256,
                signed_name=typed,
                signed_at=signed_at,
                ip_address=ip_address or None,
                user_agent=user_agent,
                document=document,
            )
            save_attributed(signature, acting_user=signer, reason=f"signed {template.kind}", validate=False)
            event_emit(
                kind="agreement.signed",
                firm=household.firm_id,
                household=household,
                investor=investor,
                subject_type="signature",
                subject_id=signature.pk,
                payload={
                    "signature": signature.pk,
                    "household": household.pk,
                    "investor": investor.pk,
                    "kind": template.kind,
                    "document_version": template.version,
                    "document_sha256": template.sha256,
                    "signed_at": signed_at,
                    "document": document.pk,
                },
            )
            return signature
    except IntegrityError as exc:
        raise OnboardingError("You have already signed this version.", field="template", code="already_signed") from exc


def agreements_complete(*, account: InvestmentAccount) -> tuple[bool, str]:
    """Whether every owner of the account has signed every required document in its household."""
    owners = [o.investor for o in account.owners.select_related("investor")]
    if not owners:
        owners = [
            m.investor
            for m in HouseholdMember.objects.filter(
                household_id=account.household_id,
                relationship__in=[HouseholdMember.Relationship.PRIMARY, HouseholdMember.Relationship.JOINT],
            ).select_related("investor")
        ]
    signed = set(
        Signature.objects.filter(household_id=account.household_id, investor__in=owners).values_list(
            "investor_id", "template__kind"
        )
    )
    for investor in owners:
        for kind in REQUIRED_KINDS:
            if (investor.pk, kind) not in signed:
                return False, (
                    f"The account cannot be funded until {investor.full_name} signs the "
                    f"{dict(AgreementTemplate._meta.get_field('kind').flatchoices)[kind].lower()}."
                )
    return True, ""


def document_store(
    *,
    household: Household,
    title: str,
    kind: str,
    filename: str,
    content: bytes,
    as_of: date | None,
    acting_user: User | None,
    content_type: str = "application/pdf",
) -> HouseholdDocument:
    """Keep a file in the household's documents (a statement, a report), with the SHA-256 of its
    bytes and the date of the data it shows. Validated first; the history row names the acting
    user. Documents are never changed afterwards: a new version is a new document."""
    document = HouseholdDocument(
        household=household,
        title=title[:200],
        kind=kind,
        filename=filename[:200],
        content_type=content_type,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        as_of=as_of,
        created_by=acting_user,
    )
    with transaction.atomic():
        save_attributed(document, acting_user=acting_user, reason=f"{kind} stored")
    return document
