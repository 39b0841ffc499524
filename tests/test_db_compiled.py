"""kronos.db.CompiledRead: a read's SQL built once, run with each call's values."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from accounts.models import Household, User
from kronos.db import CompiledRead
from portfolios.selectors.accounts import account_for_user
from tests.accounts.factories import HouseholdFactory

pytestmark = pytest.mark.django_db


def test_it_answers_what_the_queryset_answers_in_one_query(alice, bob, alice_household, bob_household):
    read = CompiledRead(
        lambda _shape, advisor_user_id, name: (
            Household.objects.filter(advisor__user_id=advisor_user_id, name=name)
            .order_by("pk")
            .values_list("pk", "name", "advisor__user__email")
        ),
        int,
        str,
    )
    for user, household in ((alice.user, alice_household), (bob.user, bob_household)):
        with CaptureQueriesContext(connection) as queries:
            rows = read.rows(user.pk, household.name)
        assert len(queries) == 1
        assert rows == [(household.pk, household.name, user.email)]
    assert read.rows(alice.user.pk, bob_household.name) == []


def test_model_rows_come_with_their_related_objects_and_annotations(alice, alice_household):
    HouseholdFactory(advisor=alice, firm=alice.firm, name="Second")
    read = CompiledRead(
        lambda _shape, pk: User.objects.select_related("firm").annotate(n=Count("advisor__households")).filter(pk=pk),
        int,
    )
    (user,) = read.rows(alice.user.pk)
    expected = User.objects.select_related("firm").annotate(n=Count("advisor__households")).get(pk=alice.user.pk)
    assert user == expected and user.n == expected.n == 2
    assert {k: v for k, v in vars(user).items() if k != "_state"} == {
        k: v for k, v in vars(expected).items() if k != "_state"
    }
    with CaptureQueriesContext(connection) as queries:
        assert user.firm == expected.firm and user.firm.name == expected.firm.name
    assert not queries and not user._state.adding and user._state.db == "default"


def test_a_builder_whose_sql_changes_with_a_value_is_refused(alice):
    searched = CompiledRead(lambda _shape, name: Household.objects.filter(name__icontains=name).values_list("pk"), str)
    with pytest.raises(ImproperlyConfigured):
        searched.rows("Alv")
    branching = CompiledRead(
        lambda _shape, pk: Household.objects.filter(pk=pk) if pk > 1_850_000_000 else Household.objects.none(), int
    )
    with pytest.raises(ImproperlyConfigured):
        branching.rows(1)


def test_an_empty_scope_asks_nothing(alice, alice_household):
    read = CompiledRead(lambda _shape, pk: Household.objects.filter(pk__in=[]).filter(pk=pk).values_list("pk"), int)
    with CaptureQueriesContext(connection) as queries:
        assert read.rows(alice_household.pk) == []
    assert not queries


def test_account_for_user_is_scoped_as_before(alice, bob, alice_household, bob_household):
    from django.http import Http404

    from portfolios.services import account_create

    mine = account_create(
        household=alice_household, name="Mine", custodian_account_number="C-1", acting_user=alice.user
    )
    theirs = account_create(
        household=bob_household, name="Theirs", custodian_account_number="C-2", acting_user=bob.user
    )
    assert account_for_user(user=alice.user, pk=mine.pk) == mine
    assert account_for_user(user=alice.user, pk=str(mine.pk)) == mine
    for pk in (theirs.pk, str(theirs.pk), 2**40):
        with pytest.raises(Http404, match="No InvestmentAccount matches the given query."):
            account_for_user(user=alice.user, pk=pk)
    assert account_for_user(user=bob.user, pk=theirs.pk) == theirs


def _prepared_statements() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return list(cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_a_read_is_prepared_once_and_answers_as_before_and_the_orms_statements_are_not(
    alice, bob, alice_household, bob_household
):
    read = CompiledRead(
        lambda _shape, advisor_user_id: (
            Household.objects.filter(advisor__user_id=advisor_user_id).order_by("pk").values_list("pk", "name")
        ),
        int,
    )
    before = {sql for sql, _ in _prepared_statements()}
    for _ in range(3):
        for user, household in ((alice.user, alice_household), (bob.user, bob_household)):
            with CaptureQueriesContext(connection) as queries:
                assert read.rows(user.pk) == [(household.pk, household.name)]
            # still one logged statement, its text readable (the values as $n placeholders)
            assert len(queries) == 1 and '"accounts_household"' in queries[0]["sql"]
    list(Household.objects.filter(name="x").values_list("pk"))  # the ORM's: never prepared
    new = [(sql, runs) for sql, runs in _prepared_statements() if sql not in before]
    assert len(new) == 1, new
    sql, runs = new[0]
    assert '"accounts_household"' in sql and "$1" in sql and runs == 6  # one statement, run six times


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_with_prepared_reads_off_nothing_is_prepared(settings, alice, alice_household):
    settings.DATABASE_PREPARED_READS = False
    read = CompiledRead(lambda _shape, pk: Household.objects.filter(pk=pk).values_list("name"), int)
    before = set(_prepared_statements())
    assert read.rows(alice_household.pk) == [(alice_household.name,)]
    assert read.rows(alice_household.pk) == [(alice_household.name,)]
    assert set(_prepared_statements()) == before
