"""Investors (customer identification), their household memberships and invitations to log in."""

from datetime import date

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from accounts import crypto
from accounts.models.firms import Firm, Household
from accounts.models.users import User
from kronos.retention import RetainedModel


class EmploymentStatus(models.TextChoices):
    EMPLOYED = "employed", "Employed"
    SELF_EMPLOYED = "self_employed", "Self-employed"
    UNEMPLOYED = "unemployed", "Not employed"
    RETIRED = "retired", "Retired"
    STUDENT = "student", "Student"
    HOMEMAKER = "homemaker", "Homemaker"


class IncomeRange(models.TextChoices):
    UNDER_50K = "under_50k", "Under $50,000"
    FROM_50K_TO_100K = "50k_100k", "$50,000 – $100,000"
    FROM_100K_TO_250K = "100k_250k", "$100,000 – $250,000"
    FROM_250K_TO_500K = "250k_500k", "$250,000 – $500,000"
    OVER_500K = "over_500k", "Over $500,000"


class NetWorthRange(models.TextChoices):
    UNDER_100K = "under_100k", "Under $100,000"
    FROM_100K_TO_500K = "100k_500k", "$100,000 – $500,000"
    FROM_500K_TO_1M = "500k_1m", "$500,000 – $1,000,000"
    FROM_1M_TO_5M = "1m_5m", "$1,000,000 – $5,000,000"
    OVER_5M = "over_5m", "Over $5,000,000"


class InvestmentObjective(models.TextChoices):
    CAPITAL_PRESERVATION = "capital_preservation", "Capital preservation"
    INCOME = "income", "Income"
    BALANCED = "balanced", "Balanced"
    GROWTH = "growth", "Growth"
    SPECULATION = "speculation", "Speculation"


#: Fields that hold a secret and never enter a history row, a log line or an export.
INVESTOR_SECRET_FIELDS = ("tax_id_encrypted",)


class Investor(RetainedModel):
    """A person who owns accounts in one or more households; may have a login.

    Holds the customer-identification data a custodian needs. The taxpayer id is kept only
    encrypted (`accounts.crypto`), its last four digits apart for display; the ciphertext is
    left out of the history table so no diff, audit export or admin history ever shows it.
    """

    user = models.OneToOneField(User, on_delete=models.PROTECT, null=True, blank=True, related_name="investor")
    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="investors")
    first_name = models.CharField(max_length=100)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    # Residential address; `country` (ISO 3166-1 alpha-2) is the country of residence.
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True, help_text="State, province or region.")
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166-1 alpha-2 country of residence.")
    citizenship = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    tax_residency = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    tax_id_encrypted = models.TextField(blank=True, editable=False)
    tax_id_last4 = models.CharField(max_length=4, blank=True, editable=False)
    employment_status = models.CharField(max_length=20, choices=EmploymentStatus.choices, blank=True)
    employer = models.CharField(max_length=200, blank=True)
    occupation = models.CharField(max_length=200, blank=True)
    annual_income = models.CharField(max_length=20, choices=IncomeRange.choices, blank=True)
    net_worth = models.CharField(max_length=20, choices=NetWorthRange.choices, blank=True)
    investment_objective = models.CharField(max_length=30, choices=InvestmentObjective.choices, blank=True)
    trusted_contact_name = models.CharField(max_length=200, blank=True)
    trusted_contact_relationship = models.CharField(max_length=100, blank=True)
    trusted_contact_phone = models.CharField(max_length=30, blank=True)
    trusted_contact_email = models.EmailField(blank=True)
    households = models.ManyToManyField(Household, through="HouseholdMember", related_name="investors")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=list(INVESTOR_SECRET_FIELDS))

    class Meta:
        ordering = ["last_name", "first_name", "id"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def legal_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)

    @property
    def tax_id_masked(self) -> str:
        """What everyone but the investor and compliance sees: the last four digits."""
        return f"•••-••-{self.tax_id_last4}" if self.tax_id_last4 else ""

    def tax_id_plain(self) -> str:
        """The taxpayer id in clear: call only for the investor themself or compliance."""
        return crypto.decrypt(self.tax_id_encrypted)

    def age_on(self, day: date) -> int | None:
        if self.date_of_birth is None:
            return None
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    @property
    def address_lines(self) -> list[str]:
        city_line = " ".join(p for p in (self.city, self.state, self.postal_code) if p)
        return [line for line in (self.address_line1, self.address_line2, city_line, self.country) if line]


class HouseholdMember(RetainedModel):
    """An investor's membership of a household; owners are who KYC and suitability look at."""

    class Relationship(models.TextChoices):
        PRIMARY = "primary", "Primary"
        JOINT = "joint", "Joint owner"
        DEPENDENT = "dependent", "Dependent"

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="members")
    investor = models.ForeignKey(Investor, on_delete=models.PROTECT, related_name="memberships")
    relationship = models.CharField(max_length=20, choices=Relationship.choices, default=Relationship.PRIMARY)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["household", "investor"], name="accounts_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.investor} in {self.household}"


class InvestorInvitation(models.Model):
    """An email inviting an investor to set a password; the link's token is Django's
    (`accounts.services.invitation_token`), so it expires and works once: setting the
    password changes what the token was made from."""

    investor = models.ForeignKey(Investor, on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField()
    sent_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"Invitation to {self.email}"
