"""Reads of users and households, always scoped to the user asking.

An investor sees the households they are a member of; an advisor the households they
advise; compliance officers and operations every household of their firm. Anything else
is a 404, so ids cannot be probed.
"""

from django.db.models import Count, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.shortcuts import get_object_or_404

from accounts.models import Household, HouseholdMember, Investor, Role, User


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


def household_search_q(search: str, *, prefix: str = "") -> Q:
    """Households (or rows reached through `prefix`) whose name, or one of whose investors' names,
    contains `search`: first, last or full name ("Wei Chen", "Chen Wei", "Chen, Wei"). A subquery,
    so a household with two matching investors is one row and the caller's query count holds."""
    search = " ".join(search.split())
    if not search:
        return Q()
    investors = (
        Investor.objects.annotate(
            _first_last=Concat("first_name", Value(" "), "last_name"),
            _last_first=Concat("last_name", Value(" "), "first_name"),
            _last_comma_first=Concat("last_name", Value(", "), "first_name"),
        )
        .filter(
            Q(_first_last__icontains=search) | Q(_last_first__icontains=search) | Q(_last_comma_first__icontains=search)
        )
        .values("memberships__household_id")
    )
    return Q(**{f"{prefix}name__icontains": search}) | Q(**{f"{prefix}pk__in": investors})


def household_list_for_user(*, user: User, search: str = "") -> QuerySet[Household]:
    """The user's households with advisor and investors loaded in a fixed number of queries."""
    qs = Household.objects.filter(pk__in=Household.objects.filter(household_scope_q(user=user)).values("pk"))
    if search:
        qs = qs.filter(household_search_q(search))
    return (
        qs.select_related("advisor__user", "firm")
        .prefetch_related(
            Prefetch(
                "members", queryset=HouseholdMember.objects.select_related("investor").order_by("investor__last_name")
            )
        )
        .annotate(investor_count=Count("members", distinct=True))
        .order_by("name", "id")
    )


def household_get_for_user(*, user: User, pk: int | str) -> Household:
    """One of the user's households, or 404 (never 403: ids are not to be probed)."""
    return get_object_or_404(household_list_for_user(user=user), pk=pk)


def household_may_edit(*, user: User, household: Household) -> bool:
    """The household's advisor and its firm's operations staff may change it."""
    if user.is_superuser:
        return True
    if household.advisor.user_id == user.pk:
        return True
    return Role.OPERATIONS in user.roles and user.firm_id == household.firm_id


def investor_list_for_user(*, user: User) -> QuerySet[Investor]:
    """Investors of the user's households (an investor: themself and their co-members)."""
    scoped = Investor.objects.filter(household_scope_q(user=user, prefix="households__")).values("pk")
    return Investor.objects.filter(pk__in=scoped).select_related("firm", "user")


def investor_get_for_user(*, user: User, pk: int | str) -> Investor:
    """One investor the user may see, or 404."""
    return get_object_or_404(investor_list_for_user(user=user), pk=pk)


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
