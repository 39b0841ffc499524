"""The portfolios pages: the book, the account page and a household's accounts section."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolios import services
from portfolios.checks import MODEL_ASSIGN_CHECKS
from tests.accounts.factories import AdvisorFactory, HouseholdFactory, UserFactory
from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def modelled(funded, model_60_40, alice, settings, override_checks):
    """The funded account (AAPL $1,500, BND $7,000, cash $1,000) on the 60/40 model: badly drifted."""
    override_checks(MODEL_ASSIGN_CHECKS)  # suitability is compliance's to test
    return services.model_assign(account=funded, model=model_60_40, acting_user=alice.user)


def make_book(advisor, count, *, prefix="Client", model=None, fund=True, fund_every=1):
    """`count` accounts, one per household, funded (every `fund_every`-th) with shares and cash through the service."""
    accounts = []
    for i in range(count):
        household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name=f"{prefix} {i:04d}")
        account = InvestmentAccountFactory(household=household, name=f"{prefix} brokerage {i}", model=model)
        if fund and i % fund_every == 0:
            services.transfer_in(
                account=account,
                positions=[{"symbol": "AAPL", "quantity": Decimal(1 + i % 7), "cost_basis": Decimal("100")}],
                cash=Decimal(100 + i),
                acting_user=advisor.user,
                idempotency_key=f"book-{prefix}-{i}",
            )
        accounts.append(account)
    return accounts


# --- The book -----------------------------------------------------------------------------------


def test_the_book_lists_the_advisors_accounts_with_value_model_and_drift(verified_client, alice, modelled):
    page = verified_client(alice.user).get("/book/")
    assert page.status_code == 200
    text = page.text
    assert "Alvarez Household" in text and modelled.name in text
    assert "$9,500.00" in text  # 10 AAPL at 150 + 100 BND at 70 + 1,000 cash
    assert "Balanced 60/40" in text
    # AAPL is 15.79% against 60%: the max drift is 44.21 points, a breach.
    assert "44.21%" in text and "Breach" in text


def test_the_book_shows_only_the_advisors_clients(verified_client, alice, bob, securities):
    make_book(alice, 2, prefix="Alice")
    make_book(bob, 2, prefix="Bob")
    text = verified_client(alice.user).get("/book/").text
    assert "Alice 0000" in text and "Bob 0000" not in text


def test_compliance_sees_the_whole_firm_and_no_other(verified_client, alice, bob, securities):
    make_book(alice, 1, prefix="Alice")
    make_book(bob, 1, prefix="Bob")
    make_book(AdvisorFactory(), 1, prefix="Elsewhere")
    officer = UserFactory(email="carol@example.com", roles=["compliance officer"], firm=alice.firm)
    text = verified_client(officer).get("/book/").text
    assert "Alice 0000" in text and "Bob 0000" in text and "Elsewhere" not in text


def test_an_investor_is_sent_to_their_households(client, charlie):
    client.force_login(charlie)
    answer = client.get("/book/")
    assert answer.status_code == 302 and answer["Location"] == "/households/"


def test_the_book_sorts_by_drift_largest_first(verified_client, alice, securities, model_60_40):
    calm, wild = make_book(alice, 2, prefix="Sorted", model=model_60_40, fund=False)
    services.transfer_in(
        account=calm,
        positions=[
            {"symbol": "AAPL", "quantity": Decimal("40"), "cost_basis": Decimal("100")},  # 6,000
            {"symbol": "BND", "quantity": Decimal("57"), "cost_basis": Decimal("100")},  # 3,990
        ],
        acting_user=alice.user,
        idempotency_key="calm",
    )
    services.transfer_in(account=wild, cash=Decimal("5000"), acting_user=alice.user, idempotency_key="wild")
    client = verified_client(alice.user)
    text = client.get("/book/", {"sort": "drift", "dir": "desc"}).text
    assert text.index(wild.name) < text.index(calm.name)
    text = client.get("/book/", {"sort": "drift", "dir": "asc"}).text
    assert text.index(calm.name) < text.index(wild.name)


def test_the_book_sorts_by_value(verified_client, alice, securities):
    small, big = make_book(alice, 2, prefix="Valued")
    services.transfer_in(account=big, cash=Decimal("100000"), acting_user=alice.user, idempotency_key="big")
    text = verified_client(alice.user).get("/book/", {"sort": "value", "dir": "desc"}).text
    assert text.index(big.name) < text.index(small.name)


def test_the_book_filters_by_search_model_and_breach(verified_client, alice, modelled, securities):
    make_book(alice, 2, prefix="Plain")
    client = verified_client(alice.user)
    text = client.get("/book/", {"q": "alvarez"}).text
    assert modelled.name in text and "Plain 0000" not in text
    text = client.get("/book/", {"model": modelled.model_id}).text
    assert modelled.name in text and "Plain 0000" not in text
    text = client.get("/book/", {"breached": "on"}).text
    assert modelled.name in text and "Plain 0000" not in text


def _client_household(advisor, name, investors, account_name, number):
    from tests.accounts.factories import InvestorFactory

    household = HouseholdFactory(advisor=advisor, firm=advisor.firm, name=name)
    for first, last in investors:
        InvestorFactory(firm=advisor.firm, first_name=first, last_name=last, households=[household])
    return InvestmentAccountFactory(household=household, name=account_name, custodian_account_number=number)


@pytest.mark.parametrize(
    "q",
    [
        "wei",
        "CHEN",
        "Wei Chen",
        "  wei   chen ",
        "Chen Wei",
        "Chen, Wei",
        "Mei",
        "Mei Lin Chen",
        "Harbor",
        "Joint brokerage",
        "KR-7781",
    ],
)
def test_the_book_finds_an_account_by_client_name_household_or_account(verified_client, alice, securities, q):
    """Advisors look clients up by the person's name: first, last or full, as well as by household
    name, account name or number."""
    _client_household(alice, "Harbor Family", [("Wei", "Chen"), ("Mei Lin", "Chen")], "Joint brokerage", "KR-7781")
    _client_household(alice, "Okafor Family", [("Ngozi", "Okafor")], "Roth IRA", "KR-1200")
    text = verified_client(alice.user).get("/book/", {"q": q}).text
    assert "Joint brokerage" in text and "Roth IRA" not in text
    assert text.count("data-account=") == 1  # two matching investors: still one row


def test_the_book_search_by_client_name_keeps_a_fixed_query_count(verified_client, alice, securities, uncached):
    client = verified_client(alice.user)

    def count(q):
        with CaptureQueriesContext(connection) as ctx:
            page = client.get("/book/", {"q": q})
        assert page.status_code == 200
        return len(ctx.captured_queries), page.text.count("data-account=")

    _client_household(alice, "First Family", [("Ana", "Silva"), ("Rui", "Silva")], "Brokerage 0", "S-0")
    one = count("silva")
    for i in range(1, 12):
        _client_household(alice, f"Family {i}", [("Ana", "Silva"), ("Rui", "Silva")], f"Brokerage {i}", f"S-{i}")
    many = count("silva")
    assert one[1] == 1 and many[1] == 12
    assert one[0] == many[0]


def test_the_households_list_finds_households_by_first_and_full_name(verified_client, alice, securities):
    _client_household(alice, "Harbor Family", [("Wei", "Chen")], "Joint brokerage", "KR-7781")
    _client_household(alice, "Okafor Family", [("Ngozi", "Okafor")], "Roth IRA", "KR-1200")
    client = verified_client(alice.user)
    for q in ("wei", "Wei Chen", "Chen, Wei"):
        text = client.get("/households/", {"q": q}).text
        assert "Harbor Family" in text and "Okafor Family" not in text, q


def test_bad_filter_values_fall_back_to_the_defaults(verified_client, alice, modelled):
    page = verified_client(alice.user).get("/book/", {"sort": "nonsense", "model": "x", "page": "zz"})
    assert page.status_code == 200 and modelled.name in page.text


def test_htmx_gets_only_the_table_partial(verified_client, alice, modelled):
    page = verified_client(alice.user).get("/book/", {"sort": "drift"}, HTTP_HX_REQUEST="true")
    assert page.text.lstrip().startswith('<div id="book-table">')
    assert "<html" not in page.text and modelled.name in page.text
    assert 'hx-swap-oob="true"' in page.text  # the form's sort follows the table
    assert "HX-Request" in page["Vary"]


def test_sort_links_work_without_javascript(verified_client, alice, modelled):
    text = verified_client(alice.user).get("/book/", {"q": "alv"}).text
    assert 'href="?q=alv&amp;sort=drift&amp;dir=desc"' in text
    assert 'hx-get="?q=alv&amp;sort=drift&amp;dir=desc"' in text


def test_the_book_paginates(verified_client, alice, securities):
    make_book(alice, 55, prefix="Paged", fund=False)
    client = verified_client(alice.user)
    first = client.get("/book/").text
    assert "Page 1 of 2" in first and "Paged 0049" in first and "Paged 0050" not in first
    second = client.get("/book/", {"page": 2}).text
    assert "Paged 0054" in second and "Paged 0000" not in second


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_the_book_keeps_a_fixed_query_count_for_10_and_500_accounts(verified_client, alice, securities, model_60_40):
    client = verified_client(alice.user)

    def count_queries(params):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/book/", params).status_code == 200
        return len(ctx.captured_queries)

    make_book(alice, 10, prefix="Small", model=model_60_40)
    small = {key: count_queries(params) for key, params in [("plain", {}), ("drift", {"sort": "drift"})]}
    # Funding is slow through the service; every 7th of the 490 is funded, enough to show any per-row query.
    make_book(alice, 490, prefix="Large", model=model_60_40, fund_every=7)
    make_book(bob_of(alice), 5, prefix="Others", model=model_60_40)
    large = {key: count_queries(params) for key, params in [("plain", {}), ("drift", {"sort": "drift"})]}
    assert large == small
    assert small["plain"] <= 20


def bob_of(alice):
    return AdvisorFactory(firm=alice.firm)


def test_the_nav_links_to_the_book_for_advisors(verified_client, alice):
    text = verified_client(alice.user).get("/households/").text
    assert 'href="/book/"' in text


# --- The account page ---------------------------------------------------------------------------


def test_the_account_page_shows_kpis_holdings_drift_and_both_charts(verified_client, alice, modelled):
    page = verified_client(alice.user).get(f"/accounts/{modelled.pk}/")
    assert page.status_code == 200
    text = page.text
    assert "$9,500.00" in text and "$1,000.00" in text  # value and cash
    assert "44.21%" in text and "Balanced 60/40" in text
    # Holdings: 10 AAPL at 150 worth 1,500 against a cost of 1,120.
    assert "AAPL" in text and "$1,500.00" in text and "$1,120.00" in text and "$380.00" in text
    assert "15.79%" in text  # AAPL's weight
    assert text.count("<svg") == 2
    assert "Allocation against target" in text and "Value over time against SPY" in text
    assert "Needs rebalancing" in text
    for label in ("1M", "3M", "YTD", "1Y", "Since inception"):
        assert f"<td>{label} " in text


def test_the_account_page_draws_performance_from_valuations(verified_client, alice, modelled, securities):
    start = date.today() - timedelta(days=40)
    spy = services.security_create(symbol="SPY", name="S&P 500 ETF", acting_user=alice.user)
    for offset in (40, 30, 0):
        PriceFactory(security=spy, date=date.today() - timedelta(days=offset), close=Decimal(400 + (40 - offset)))
        day = date.today() - timedelta(days=offset)
        for symbol, close in (("AAPL", 140 + (40 - offset) // 4), ("BND", 70)):
            if day < date.today() - timedelta(days=1):
                PriceFactory(security=securities[symbol], date=day, close=Decimal(close))
    modelled.opened_on = start
    modelled.save()
    for offset in (40, 30, 0):
        services.valuation_snapshot_write(account=modelled, date=date.today() - timedelta(days=offset))
    text = verified_client(alice.user).get(f"/accounts/{modelled.pk}/").text
    assert "<polyline" in text  # the value line and the benchmark line
    assert text.count("<polyline") == 2
    assert "Benchmark (SPY)" in text


def test_an_account_page_without_a_model_says_so(verified_client, alice, funded):
    text = verified_client(alice.user).get(f"/accounts/{funded.pk}/").text
    assert "No model is assigned" in text and "No model" in text


def test_another_advisors_account_is_a_404(verified_client, bob, modelled):
    assert verified_client(bob.user).get(f"/accounts/{modelled.pk}/").status_code == 404


def test_an_investor_sees_their_account_read_only(client, charlie, modelled):
    client.force_login(charlie)
    page = client.get(f"/accounts/{modelled.pk}/")
    assert page.status_code == 200
    assert "$9,500.00" in page.text
    assert 'href="/book/"' not in page.text  # no book crumb for investors


def test_the_account_page_has_the_actions_slot(verified_client, alice, modelled):
    assert 'id="account-actions"' in verified_client(alice.user).get(f"/accounts/{modelled.pk}/").text


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_the_account_page_keeps_a_fixed_query_count(verified_client, alice, modelled, securities):
    client = verified_client(alice.user)

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/accounts/{modelled.pk}/").status_code == 200
        return len(ctx.captured_queries)

    before = count_queries()
    services.transfer_in(
        account=modelled,
        positions=[{"symbol": "VXUS", "quantity": Decimal("3"), "cost_basis": Decimal("150")}],
        acting_user=alice.user,
        idempotency_key="more",
    )
    assert count_queries() == before


# --- The household's accounts ---------------------------------------------------------------------


def test_the_household_page_loads_its_accounts_section(client, charlie, alice_household):
    client.force_login(charlie)
    text = client.get(f"/households/{alice_household.pk}/").text
    assert f'hx-get="/households/{alice_household.pk}/accounts/"' in text
    assert f'href="/households/{alice_household.pk}/accounts/"' in text


def test_an_investor_sees_their_households_accounts(client, charlie, modelled, alice_household):
    client.force_login(charlie)
    page = client.get(f"/households/{alice_household.pk}/accounts/", HTTP_HX_REQUEST="true")
    assert page.text.lstrip().startswith('<div id="household-accounts">')
    assert modelled.name in page.text and "$9,500.00" in page.text
    assert "Max drift" not in page.text  # drift is the advisor's concern


def test_the_household_accounts_page_works_without_htmx(verified_client, alice, modelled, alice_household):
    page = verified_client(alice.user).get(f"/households/{alice_household.pk}/accounts/")
    assert "<html" in page.text and modelled.name in page.text and "44.21%" in page.text


def test_another_households_accounts_are_a_404(client, charlie, bob_household):
    client.force_login(charlie)
    assert client.get(f"/households/{bob_household.pk}/accounts/").status_code == 404
