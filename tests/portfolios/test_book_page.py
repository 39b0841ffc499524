"""`book_page_for_user`: one page of the book, sorted, cut and counted by the database, is the
same page `book_for_user` (every row, sorted in Python) gives -- every sort, both directions,
the breach filter, every page, the page past the last -- in one query while every account has
its kept figures, and by the full read when one has none."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Household
from demo.books import bulk_funded_accounts
from portfolios import selectors
from portfolios.models import AccountFigures
from tests.accounts.factories import HouseholdFactory
from tests.portfolios.factories import ModelPortfolioFactory, ModelTargetFactory

pytestmark = pytest.mark.django_db

SIZE = 4
# Names whose order differs between code points (Python's sort) and a linguistic collation,
# which skips spaces and punctuation and folds accents: "de la Cruz" < "DeLeon" < "Del Rio".
NAMES = ["de la Cruz", "DeLeon", "Del Rio", "Ávila", "avila", "Zhou", "O'Brien", "obrien", "van Dyke"]


@pytest.fixture
def book(alice, securities):
    """Nine households of two accounts each: different values and drifts (a 50/50 AAPL/BND
    model that some are on and breach, some are inside, some have no model)."""
    model = ModelPortfolioFactory(firm=alice.firm)
    ModelTargetFactory(model=model, security=securities["AAPL"], weight=Decimal("0.5"))
    ModelTargetFactory(model=model, security=securities["BND"], weight=Decimal("0.5"))
    for i, name in enumerate(NAMES):
        household = HouseholdFactory(advisor=alice, firm=alice.firm, name=name)
        bulk_funded_accounts(
            household=household,
            count=2,
            # AAPL 150, BND 70: 7 AAPL + 15 BND is 1,050 / 1,050 (on the model); the others drift.
            holdings=[{"AAPL": Decimal(7), "BND": Decimal(15)}, {"AAPL": Decimal(1 + i), "BND": Decimal(30 - i)}],
            cash=Decimal(10 + i),
            acting_user=alice.user,
            model=model if i % 3 else None,
            prefix=f"P{i}",
        )
    assert AccountFigures.objects.count() == 2 * len(NAMES)
    return alice.user


SORTS = [(sort, descending) for sort in ("household", "value", "drift") for descending in (False, True)]


def _whole(user, **filters):
    return selectors.book_for_user(user=user, **filters)


@pytest.mark.parametrize("breached_only", [False, True])
@pytest.mark.parametrize(("sort", "descending"), SORTS)
def test_every_page_is_the_same_slice_of_the_whole_book_in_one_query(book, sort, descending, breached_only):
    filters = {"sort": sort, "descending": descending, "breached_only": breached_only}
    whole = _whole(book, **filters)
    assert whole and (not breached_only or len(whole) < 2 * len(NAMES))
    pages = -(-len(whole) // SIZE)
    for number in range(1, pages + 1):
        with CaptureQueriesContext(connection) as queries:
            page = selectors.book_page_for_user(user=book, page=str(number), size=SIZE, **filters)
        assert len(queries) == 1
        assert page.rows == whole[(number - 1) * SIZE : number * SIZE]
        assert (page.number, page.total, page.breached) == (number, len(whole), sum(r.breached for r in whole))


def test_the_household_sort_is_pythons_lowercase_code_point_order(book):
    names = [r.household for r in selectors.book_page_for_user(user=book, size=100).rows][::2]
    assert names == sorted(NAMES, key=str.lower)
    # By code point " " < "e" and "á" after "z"; a linguistic collation would say otherwise.
    assert names[1:4] == ["de la Cruz", "Del Rio", "DeLeon"]
    assert names[-1] == "Ávila"


@pytest.mark.parametrize(
    ("asked", "shown"), [("99", 5), ("5", 5), ("0", 1), ("-2", 1), ("two", 1), (None, 1), (str(2**70), 5)]
)
def test_a_page_past_the_last_shows_the_last_and_a_malformed_one_the_first(book, asked, shown):
    whole = _whole(book)
    page = selectors.book_page_for_user(user=book, page=asked, size=SIZE)
    assert -(-len(whole) // SIZE) == 5
    assert page.number == shown
    assert page.rows == whole[(shown - 1) * SIZE : shown * SIZE]


def test_an_account_without_kept_figures_is_computed_and_sorted_in_its_place(book):
    whole = _whole(book, sort="drift", descending=True)
    largest = whole[0]
    AccountFigures.objects.filter(account_id=largest.pk).delete()
    page = selectors.book_page_for_user(user=book, size=SIZE, sort="drift", descending=True)
    # Computed from the records: the same figures (the kept row holds the drift to 12 places), first.
    first = page.rows[0]
    assert (first.pk, first.total_value, first.breached) == (largest.pk, largest.total_value, True)
    assert round(first.max_drift, 12) == largest.max_drift
    assert page.total == len(whole)
    breached = selectors.book_page_for_user(user=book, size=SIZE, breached_only=True, sort="drift", descending=True)
    assert breached.rows[0].pk == largest.pk


def test_an_empty_book_is_one_empty_page(alice):
    page = selectors.book_page_for_user(user=alice.user, page="3", size=SIZE)
    assert (page.rows, page.number, page.total, page.breached) == ([], 1, 0, 0)
    assert not Household.objects.filter(advisor=alice).exists()


def test_the_book_page_shows_the_counts_and_pages_of_the_whole_book(book, verified_client):
    client = verified_client(book)
    whole = _whole(book)
    breaches = sum(r.breached for r in whole)
    assert breaches > 1
    response = client.get("/book/", {"page": "2"})
    assert response.status_code == 200
    text = response.text
    assert f"{len(whole)} accounts" in text
    assert f"{breaches} breaches" in text
    for row in whole[50:100] or whole[:50]:
        assert f'data-account="{row.pk}"' in text


def test_the_books_lines_escape_every_value_and_mark_breaches_and_selection(book, verified_client, alice):
    """The lines are written by `book_rows_html`, not the template: a household's name is
    escaped, a breached line has its class, the drift its mark and badge; an advisor's lines
    have a checkbox, an operations user's none."""
    from tests.accounts.factories import UserFactory

    household = Household.objects.get(name="O'Brien")
    household.name = '<script>alert("x")</script> & Co'
    household.save()
    text = verified_client(book).get("/book/", {"page_size": 50}).text
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in text
    whole = _whole(book)
    breached = next(r for r in whole if r.breached)
    inside = next(r for r in whole if not r.breached and r.max_drift is not None)

    def line_of(pk):
        at = text.index(f'data-account="{pk}"')
        start = text.rindex("<tr", 0, at)
        return text[start : text.index("</tr>", at)]

    line = line_of(breached.pk)
    assert 'class="row-breach"' in line and "⚠</span>" in line and "badge-breach" in line
    assert f'name="account" value="{breached.pk}"' in line
    line = line_of(inside.pk)
    assert "row-breach" not in line and "badge-breach" not in line
    ops = UserFactory(email="ops@example.com", roles=["operations"], firm=alice.firm)
    seen = verified_client(ops).get("/book/").text
    assert f'data-account="{breached.pk}"' in seen and 'name="account"' not in seen
