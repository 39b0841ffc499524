"""Reads of households and investors, always scoped to the user asking
(`accounts.permissions.household_scope_q`). Anything outside the scope is a 404, so ids
cannot be probed."""

from django.db.models import Count, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.shortcuts import get_object_or_404

from accounts.models import Household, HouseholdMember, Investor, User
from accounts.permissions import household_scope_q


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


def investor_list_for_user(*, user: User) -> QuerySet[Investor]:
    """Investors of the user's households (an investor: themself and their co-members)."""
    scoped = Investor.objects.filter(household_scope_q(user=user, prefix="households__")).values("pk")
    return Investor.objects.filter(pk__in=scoped).select_related("firm", "user")


def investor_get_for_user(*, user: User, pk: int | str) -> Investor:
    """One investor the user may see, or 404."""
    return get_object_or_404(investor_list_for_user(user=user), pk=pk)
