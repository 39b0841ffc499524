"""Onboarding: the firm's agreement templates, signatures and each household's documents.

A signature is evidence: it names the template's version and the SHA-256 of the text the
signer was shown, the signer, the time, their IP address and user agent, and points at the
signed PDF kept (as bytes, hashed) in the household's documents. Nothing here is deleted.
"""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from kronos.retention import RetainedModel


class AgreementKind(models.TextChoices):
    ADVISORY_AGREEMENT = "advisory_agreement", "Investment advisory agreement"
    FORM_ADV = "form_adv", "Form ADV Part 2 brochure (receipt)"
    PRIVACY_NOTICE = "privacy_notice", "Privacy notice"


class DocumentKind(models.TextChoices):
    """What a household document is: a signed agreement (the agreement kinds) or a report."""

    ADVISORY_AGREEMENT = "advisory_agreement", "Investment advisory agreement"
    FORM_ADV = "form_adv", "Form ADV Part 2 brochure (receipt)"
    PRIVACY_NOTICE = "privacy_notice", "Privacy notice"
    STATEMENT = "statement", "Quarterly account statement"
    PERFORMANCE_REPORT = "performance_report", "Household performance report"


#: What every account owner signs before an account may be funded.
REQUIRED_KINDS = (AgreementKind.ADVISORY_AGREEMENT, AgreementKind.FORM_ADV, AgreementKind.PRIVACY_NOTICE)


class AgreementTemplate(RetainedModel):
    """One version of one of the firm's documents, uploaded by operations in the admin.

    The text is fixed once saved (a change is a new version); `sha256` is of the text."""

    firm = models.ForeignKey("accounts.Firm", on_delete=models.PROTECT, related_name="agreement_templates")
    kind = models.CharField(max_length=30, choices=AgreementKind.choices)
    version = models.CharField(max_length=40, help_text="The firm's version label, e.g. 2026-01.")
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="The document's text (plain text; blank lines separate paragraphs).")
    sha256 = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True, help_text="The version new signers are shown.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["firm", "kind", "-uploaded_at"]
        constraints = [
            models.UniqueConstraint(fields=["firm", "kind", "version"], name="onboarding_template_version_unique"),
            models.UniqueConstraint(
                fields=["firm", "kind"], condition=Q(is_active=True), name="onboarding_one_active_template_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"

    @staticmethod
    def digest(body: str) -> str:
        return hashlib.sha256(body.encode()).hexdigest()


class HouseholdDocument(RetainedModel):
    """A file kept for a household (a signed agreement's PDF, a statement, a performance report),
    readable by its investors, its advisor and the firm's compliance staff. `as_of` is the date
    of the data a report shows (none for a signed agreement)."""

    household = models.ForeignKey("accounts.Household", on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=DocumentKind.choices)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100, default="application/pdf")
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    as_of = models.DateField(null=True, blank=True, help_text="The date of the data the document shows.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["content"])

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Signature(RetainedModel):
    """An investor's e-signature of one template version."""

    template = models.ForeignKey(AgreementTemplate, on_delete=models.PROTECT, related_name="signatures")
    household = models.ForeignKey("accounts.Household", on_delete=models.PROTECT, related_name="signatures")
    investor = models.ForeignKey("accounts.Investor", on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    document_version = models.CharField(max_length=40)
    document_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the text the signer was shown.")
    signed_name = models.CharField(max_length=200, help_text="The name the signer typed.")
    signed_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    document = models.OneToOneField(HouseholdDocument, on_delete=models.PROTECT, related_name="signature")

    history = HistoricalRecords()

    class Meta:
        ordering = ["-signed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "household", "investor"], name="onboarding_one_signature_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.investor_id} signed {self.template}"
