"""Logins and their roles: a person who logs in, identified by email, in role groups."""

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords


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
