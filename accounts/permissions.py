"""Role rules of the accounts app: who may see and do what. Api, views, selectors and services
call these; no role rule is written anywhere else in the app (the navigation only shows the
links of the roles a user has).

Households: an investor sees the households they are a member of; an advisor the households
they advise; compliance officers and operations every household of their firm.
"""

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied

from accounts.models import KINDS, Advisor, Household, HouseholdMember, Investor, Role, User

#: The fields of a user that make up their privileges.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


def may_change_privileges(*, acting_user: User | AnonymousUser | None, user: User | None) -> bool:
    """Whether `acting_user` may change `user`'s superuser or staff flag, roles (groups) or
    permissions (`user` None: a user being created).

    Only a superuser does, and never for themselves: a superuser who wants to give up their
    own flag or roles asks another superuser (or uses the shell, where `acting_user` is None).
    Jobs and the demo seeding act as the system user, which may.
    """
    if acting_user is None or getattr(acting_user, "is_system", False):
        return True
    if not acting_user.is_superuser:
        return False
    return user is None or user.pk is None or user.pk != acting_user.pk


#: The role a client's login carries: it reaches only the investor's own households, so firm
#: staff who open clients (the household's advisor, operations) give it when they invite one.
#: Every other role, the staff flag and permissions are privileges (`may_change_privileges`).
CLIENT_ROLES = frozenset({"investor"})
CLIENT_GRANTORS = frozenset({"advisor", "operations"})


def may_grant_roles(
    *, acting_user: User | None, roles: Iterable[str], is_staff: bool = False, user: User | None = None
) -> bool:
    """Whether `acting_user` may give `user` (None: a login being created) these roles.

    Privileged roles follow `may_change_privileges`. The client role alone may also be given by
    an advisor or operations user of a firm to a login that has no privilege of its own (not
    staff, not a superuser, no other role) and is not their own: inviting a client to the
    portal is onboarding, not an escalation.
    """
    if acting_user is None or may_change_privileges(acting_user=acting_user, user=user):
        return True
    wanted = set(roles)
    if is_staff or not wanted or not wanted <= CLIENT_ROLES:
        return False
    if not getattr(acting_user, "firm_id", None) or not (acting_user.roles & CLIENT_GRANTORS):
        return False
    if user is None or user.pk is None:
        return True
    if user.pk == acting_user.pk or user.is_staff or user.is_superuser or not set(user.roles) <= CLIENT_ROLES:
        return False
    return user.firm_id in (None, acting_user.firm_id)


# --- Households and investors ---------------------------------------------------------------


def household_scope_q(*, user: User, prefix: str = "") -> Q:
    """The filter that limits households (or rows reached through `prefix`) to `user`'s."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    roles = user.roles
    q = Q(pk__in=[]) if not prefix else Q(**{f"{prefix}pk__in": []})
    if (Role.COMPLIANCE in roles or Role.OPERATIONS in roles) and user.firm_id:
        q |= Q(**{f"{prefix}firm_id": user.firm_id})
    if Role.ADVISOR in roles:
        q |= Q(**{f"{prefix}advisor__user_id": user.pk})
    if Role.INVESTOR in roles:
        q |= Q(**{f"{prefix}members__investor__user_id": user.pk})
    return q


def scope_shape(user: User) -> tuple[bool, frozenset[str], bool] | None:
    """What of `user` changes the SQL of its scope (`household_scope_q` and the account scope built
    on it; its values aside), to key a `CompiledRead` of a scoped read; None for a user whose scope
    is empty."""
    if not user.is_authenticated or not user.is_active:
        return None
    return (bool(user.is_superuser), user.roles, user.firm_id is not None)


def scope_stand_in(shape: tuple[bool, frozenset[str], bool], user_id: int, firm_id: int) -> User:
    """An unsaved user of `shape` with these values, for a `CompiledRead` builder to scope with."""
    superuser, roles, has_firm = shape
    stand_in = User(pk=user_id, firm_id=firm_id if has_firm else None, is_active=True, is_superuser=superuser)
    stand_in._roles_cache = roles  # type: ignore[attr-defined]
    return stand_in


def household_may_edit(*, user: User, household: Household) -> bool:
    """The household's advisor and its firm's operations staff may change it."""
    if user.is_superuser:
        return True
    if household.advisor.user_id == user.pk:
        return True
    return Role.OPERATIONS in user.roles and user.firm_id == household.firm_id


def investor_may_edit(*, user: User, investor: Investor) -> bool:
    """The advisor of one of the investor's households, or the firm's operations staff."""
    if user.is_superuser:
        return True
    if Role.OPERATIONS in user.roles and user.firm_id == investor.firm_id:
        return True
    return Household.objects.filter(members__investor=investor, advisor__user_id=user.pk).exists()


def may_see_tax_id(*, user: User, investor: Investor) -> bool:
    """The taxpayer id in clear is for the investor themself and their firm's compliance staff."""
    if investor.user_id is not None and investor.user_id == user.pk:
        return True
    return Role.COMPLIANCE in user.roles and user.firm_id == investor.firm_id


def household_creator_advisor(user: User, advisor_id: int | None) -> Advisor:
    """Who will advise a household `user` creates: themself (an advisor) or, for operations,
    the named advisor of their firm. Anyone else is refused (403)."""
    roles = user.roles
    if Role.OPERATIONS in roles and user.firm_id:
        if advisor_id is None:
            own = Advisor.objects.filter(user=user, is_active=True).first()
            if own is None:
                raise serializers.ValidationError({"advisor": ["Name the advisor who will advise the household."]})
            return own
        advisor = (
            Advisor.objects.select_related("firm").filter(pk=advisor_id, firm_id=user.firm_id, is_active=True).first()
        )
        if advisor is None:
            raise serializers.ValidationError({"advisor": [f"No active advisor with id {advisor_id} in your firm."]})
        return advisor
    if Role.ADVISOR in roles:
        advisor = Advisor.objects.select_related("firm").filter(user=user, is_active=True).first()
        if advisor is not None:
            if advisor_id is not None and advisor_id != advisor.pk:  # acting for another: a role rule, 403
                raise PermissionDenied("An advisor creates households for themself: leave out `advisor`.")
            return advisor
    raise PermissionDenied("Only advisors and operations staff create households.")


# --- Events and webhooks -----------------------------------------------------------------------


STAFF_ONLY_KINDS = tuple(k.name for k in KINDS.values() if k.staff_only)


def event_scope_q(*, user: User) -> Q:
    """The events `user` may see; nothing for an inactive user. The same rules as households:
    firm staff their firm, an advisor the households they advise and those households'
    investors, an investor their own households and themselves; kinds marked `staff_only`
    (an AML case) are never shown to investors."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    roles = user.roles
    q = Q(pk__in=[])
    if (Role.COMPLIANCE in roles or Role.OPERATIONS in roles) and user.firm_id:
        q |= Q(firm_id=user.firm_id)
    if Role.ADVISOR in roles and user.firm_id:
        advised = Household.objects.filter(advisor__user_id=user.pk).values("pk")
        members = HouseholdMember.objects.filter(household__advisor__user_id=user.pk).values("investor_id")
        q |= Q(firm_id=user.firm_id) & (
            Q(household_id__in=advised) | Q(household__isnull=True, investor_id__in=members)
        )
    if Role.INVESTOR in roles:
        own = HouseholdMember.objects.filter(investor__user_id=user.pk)
        mine = Q(household_id__in=own.values("household_id")) | Q(
            household__isnull=True, investor_id__in=own.values("investor_id")
        )
        q |= mine & ~Q(kind__in=STAFF_ONLY_KINDS)
    return q


def subscription_may_create(user: User) -> bool:
    """Firm staff (advisors, compliance, operations) may subscribe; investors may not."""
    return bool(user.firm_id) and bool(user.roles & {Role.ADVISOR, Role.COMPLIANCE, Role.OPERATIONS})


# --- Landing page ------------------------------------------------------------------------------


def home_pages(user: User) -> tuple[str, ...]:
    """The pages (URL names, the first that exists wins) each role lands on after signing in."""
    roles = user.roles
    if Role.ADVISOR in roles:
        return ("portfolios:book", "accounts:household_list")
    if Role.COMPLIANCE in roles:
        return ("compliance:dashboard", "accounts:household_list")
    if Role.OPERATIONS in roles and user.is_staff:
        return ("trading:operations", "admin:index")
    if Role.INVESTOR in roles:  # their accounts and what they are worth, not a list of one household
        return ("portfolios:my_accounts", "accounts:household_list")
    return ("accounts:household_list",)
