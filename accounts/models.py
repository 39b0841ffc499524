"""Users, firms, advisors, households and their investors.

Every model here holds personal data and carries a history table; the acting user of
each change is recorded by `simple_history` (the request's user on the web, the token's
user in the API, a named system user in jobs).
"""

from datetime import date
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

from kronos.models import IdempotencyKeyBase
from kronos.retention import RetainedModel


class Role(models.TextChoices):
    """The four roles; each is a Django group of the same name with its permissions."""

    INVESTOR = "investor", "Investor"
    ADVISOR = "advisor", "Advisor"
    COMPLIANCE = "compliance officer", "Compliance officer"
    OPERATIONS = "operations", "Operations"


#: Roles that must pass a second factor when KRONOS_ENFORCE_2FA is on.
STAFF_ROLES = frozenset({Role.ADVISOR, Role.COMPLIANCE, Role.OPERATIONS})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in, identified by email."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    firm = models.ForeignKey(
        "accounts.Firm",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        help_text="The firm a staff member (advisor, compliance, operations) works for.",
    )
    is_staff = models.BooleanField(default=False, help_text="May log in to the admin.")
    is_active = models.BooleanField(default=True)
    is_system = models.BooleanField(default=False, help_text="A named system user that jobs act as.")
    date_joined = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    def has_role(self, role: str) -> bool:
        """Whether the user is in the role's group (cached per instance: groups don't change mid-request)."""
        return role in self.roles

    @property
    def roles(self) -> frozenset[str]:
        cached = getattr(self, "_roles_cache", None)
        if cached is None:
            cached = frozenset(self.groups.values_list("name", flat=True))
            self._roles_cache = cached
        return cached

    @property
    def needs_second_factor(self) -> bool:
        return self.is_staff or self.is_superuser or bool(self.roles & STAFF_ROLES)


class Firm(RetainedModel):
    """A registered investment advisory firm: the tenant everything else belongs to."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="America/New_York")
    base_currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Advisor(RetainedModel):
    """An advisor of a firm; manages a book of households."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="advisor")
    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="advisors")
    crd_number = models.CharField("CRD number", max_length=20, blank=True)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return self.user.get_full_name()


class Household(RetainedModel):
    """A client of the firm: one or more investors who share an advisor and accounts."""

    class Status(models.TextChoices):
        PROSPECT = "prospect", "Prospect"
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="households")
    name = models.CharField(max_length=200)
    advisor = models.ForeignKey(Advisor, on_delete=models.PROTECT, related_name="households")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["firm", "name"], name="accounts_household_name_unique_in_firm")]

    def __str__(self) -> str:
        return self.name


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
        from accounts import crypto

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


class IdempotencyKey(IdempotencyKeyBase):
    """The store of `kronos.idempotency` (handed to it in `AccountsConfig.ready()`); its fields and
    its unique (user, key) constraint come from `kronos.models.IdempotencyKeyBase`."""


# --- Events out (the outbox) and webhook subscriptions -------------------------------------
#
# Events live in `accounts`, the lowest app: every app's services may import it (the layering
# accounts <- portfolios <- trading/compliance <- operations holds), and every event is scoped
# by a firm and, where it has one, a household or investor, which are this app's rows.


class Event(models.Model):
    """One change an integrator cares about, written in the transaction of the change.

    `id` is allocated at INSERT, so ids do not commit in order; `position` (the public
    cursor) is assigned after the commit by the publisher (`accounts.events.events_publish`),
    one publisher at a time, so positions become visible in increasing order and a reader
    that has seen position N never later finds a new event at N or below.
    """

    position = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    kind = models.CharField(max_length=64, db_index=True)
    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="events")
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, null=True, blank=True, related_name="events", db_index=False
    )
    investor = models.ForeignKey(
        Investor, on_delete=models.PROTECT, null=True, blank=True, related_name="events", db_index=False
    )
    account_id = models.BigIntegerField(null=True, blank=True, help_text="The investment account, if any.")
    subject_type = models.CharField(max_length=40, blank=True, help_text="What changed: order, transfer, …")
    subject_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["id"], name="accounts_event_unpublished", condition=models.Q(position__isnull=True)),
            models.Index(fields=["household", "position"], name="accounts_event_household_pos"),
            models.Index(fields=["investor", "position"], name="accounts_event_investor_pos"),
            models.Index(fields=["firm", "position"], name="accounts_event_firm_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def public_id(self) -> str:
        """The id integrators see (the Standard Webhooks `webhook-id`): stable across retries."""
        return f"evt_{self.pk}"


class WebhookSubscription(models.Model):
    """An integrator's URL that receives the events its owner may see, signed (Standard Webhooks)."""

    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="webhook_subscriptions")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="webhook_subscriptions")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text='Event kinds delivered, or ["*"] for all.')
    secret = models.CharField(max_length=100, editable=False, help_text="whsec_… signing secret.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    start_position = models.BigIntegerField(
        default=0, help_text="Events after this cursor are delivered (the newest when it was made)."
    )

    # Who subscribed what, and when it was deleted; the secret stays out of the history table.
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.user})"

    def wants(self, kind: str) -> bool:
        return "*" in self.events or kind in self.events


class WebhookDelivery(models.Model):
    """One event to one subscription: retried with backoff until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=500, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="accounts_delivery_once_per_event"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="accounts_delivery_due",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription.url}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what the receiver answered (the delivery log)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.delivery_id}"
