"""Reads of households and investors, always scoped to the user asking
(`accounts.permissions.household_scope_q`). Anything outside the scope is a 404, so ids
cannot be probed."""

from datetime import datetime
from typing import Any, NamedTuple

from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, Q, QuerySet, Value, Window
from django.db.models.functions import Concat
from django.shortcuts import get_object_or_404

from accounts.models import Household, HouseholdMember, Investor, Role, User
from accounts.permissions import household_scope_q, scope_shape, scope_stand_in
from kronos.db import LARGEST_OFFSET, CompiledIdsRead, CompiledRead, page_number


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


def _scoped(user: User, search: str) -> QuerySet[Household]:
    """The user's households, each once: an investor's scope joins the household's members, so
    it is a subquery; the other roles' scopes filter the rows directly."""
    if Role.INVESTOR in user.roles and not user.is_superuser:
        qs = Household.objects.filter(pk__in=Household.objects.filter(household_scope_q(user=user)).values("pk"))
    else:
        qs = Household.objects.filter(household_scope_q(user=user))
    return qs.filter(household_search_q(search)) if search else qs


#: The households' member rows in the order the lists write them.
MEMBER_ORDER = ("investor__last_name", "investor_id")


def household_list_for_user(*, user: User, search: str = "") -> QuerySet[Household]:
    """The user's households with advisor and investors loaded in a fixed number of queries."""
    return (
        _scoped(user, search)
        .select_related("advisor__user", "firm")
        .prefetch_related(
            Prefetch("members", queryset=HouseholdMember.objects.select_related("investor").order_by(*MEMBER_ORDER))
        )
        .order_by("name", "id")
    )


class MemberRow(NamedTuple):
    """An investor of a household as the lists write them."""

    investor_id: int
    first_name: str
    last_name: str
    relationship: str

    @property
    def full_name(self) -> str:  # Investor.full_name
        return f"{self.first_name} {self.last_name}".strip()


class HouseholdRow(NamedTuple):
    """A household as the households API and page write it, with its investors (`members`,
    filled by `household_rows_with_members`)."""

    pk: int
    name: str
    status: str
    advisor_id: int
    advisor_full_name: str
    advisor_email: str
    created_at: datetime
    updated_at: datetime
    members: tuple[MemberRow, ...] = ()

    @property
    def advisor_name(self) -> str:  # str(Advisor): the user's full name, or their email
        return self.advisor_full_name or self.advisor_email

    @property
    def status_label(self) -> str:
        return str(Household.Status(self.status).label)


_HOUSEHOLD_COLUMNS = (
    "pk",
    "name",
    "status",
    "advisor_id",
    "advisor__user__full_name",
    "advisor__user__email",
    "created_at",
    "updated_at",
)


def household_row_values_for_user(*, user: User, search: str = "") -> QuerySet[Household, tuple[Any, ...]]:
    """The user's households in the lists' order as `HouseholdRow` tuples (members not filled):
    the columns the lists write, no model instances."""
    return _scoped(user, search).order_by("name", "id").values_list(*_HOUSEHOLD_COLUMNS)


def _household_rows_page(user: User, search: str, offset: int, limit: int) -> QuerySet[Household, tuple[Any, ...]]:
    rows = household_row_values_for_user(user=user, search=search)
    return rows.annotate(rows_total=Window(Count("pk")))[offset : offset + limit]


#: The lists' page without a search, built once per scope shape and slice.
_HOUSEHOLD_ROWS_PAGE = CompiledRead(
    lambda shape, user_id, firm_id: _household_rows_page(
        scope_stand_in(shape[0], user_id, firm_id), "", shape[1], shape[2]
    ),
    int,
    int,
)


def household_rows_page_for_user(
    *, user: User, offset: int, limit: int, search: str = ""
) -> tuple[list[HouseholdRow], int]:
    """`limit` of the user's households from `offset` (their members not filled:
    `household_rows_with_members`), and the count of all of them (0 when the page has none), in
    one query: the count is a window aggregate over the rows."""
    shape = scope_shape(user)
    if offset > LARGEST_OFFSET:  # no database reads that far: past the last page
        got = []
    elif search or shape is None:
        got = list(_household_rows_page(user, search, offset, limit))
    else:
        got = _HOUSEHOLD_ROWS_PAGE.rows(user.pk, user.firm_id or 0, shape=(shape, offset, limit))
    return [HouseholdRow(*row[:-1]) for row in got], (got[0][-1] if got else 0)


def household_page_for_user(*, user: User, page: int | str | None, size: int, search: str = "") -> Page[HouseholdRow]:
    """The households page's `Paginator.get_page(page)` of the user's households, with their
    members, in two queries (three past the last page, which shows the last)."""
    number = page_number(page)
    rows, total = household_rows_page_for_user(user=user, offset=(number - 1) * size, limit=size, search=search)
    if not rows and number > 1:
        last = Paginator(household_row_values_for_user(user=user, search=search), size).get_page(number)
        rows, number, total = [HouseholdRow(*row) for row in last.object_list], last.number, last.paginator.count
    return Page(household_rows_with_members(rows), number, Paginator(range(total), size))  # type: ignore[arg-type]


def _members(household_ids: list[int]) -> QuerySet[HouseholdMember, tuple[Any, ...]]:
    return (
        HouseholdMember.objects.filter(household_id__in=household_ids)
        .order_by("household_id", *MEMBER_ORDER)
        .values_list("household_id", "investor_id", "investor__first_name", "investor__last_name", "relationship")
    )


#: The members' read, its SQL built once for each number of households.
_MEMBERS = CompiledIdsRead(_members)


def household_rows_with_members(rows: list[HouseholdRow]) -> list[HouseholdRow]:
    """`rows` with their investors (`members`) filled, in one query."""
    if not rows:
        return rows
    ids = [row.pk for row in rows]
    members: dict[int, list[MemberRow]] = {pk: [] for pk in ids}
    for household_id, *member in _MEMBERS.rows(ids):
        members[household_id].append(MemberRow(*member))
    return [row._replace(members=tuple(members[row.pk])) for row in rows]


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
