from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from demo.books import bulk_funded_accounts
from portfolios import selectors, services
from portfolios.models import InvestmentAccount, SubstitutionPair
from portfolios.selectors import snapshots
from tests.portfolios.factories import ModelPortfolioFactory, ModelTargetFactory, PriceFactory

pytestmark = pytest.mark.django_db


def test_latest_prices_are_the_last_close_on_or_before_the_day_in_one_query(securities, django_assert_num_queries):
    with django_assert_num_queries(1):
        prices = selectors.latest_prices(["AAPL", securities["BND"].pk])
    assert {p.symbol: p.close for p in prices.values()} == {"AAPL": Decimal("150"), "BND": Decimal("70")}
    with django_assert_num_queries(1):
        past = selectors.latest_prices(["AAPL"], as_of=date.today() - timedelta(days=1))
    assert past[securities["AAPL"].pk].close == Decimal("149")
    assert selectors.latest_prices(["AAPL"], as_of=date.today() - timedelta(days=30)) == {}


def test_an_advisor_sees_only_the_accounts_of_their_households(funded, alice, bob, bob_household, alice_household):
    other = services.account_create(
        household=bob_household, name="Bob's client", custodian_account_number="B-1", acting_user=bob.user
    )
    assert list(selectors.account_list_for_user(user=alice.user)) == [funded]
    assert list(selectors.account_list_for_user(user=bob.user)) == [other]
    with pytest.raises(Http404):
        selectors.account_get_for_user(user=alice.user, pk=other.pk)


def test_an_investor_sees_their_households_accounts(funded, charlie):
    assert [a.pk for a in selectors.account_list_for_user(user=charlie)] == [funded.pk]


def test_the_book_rows_carry_market_value_and_cash(funded, alice):
    row = selectors.account_get_for_user(user=alice.user, pk=funded.pk)
    # 10 AAPL x 150 + 100 BND x 70
    assert row.market_value == Decimal("8500")
    assert row.cash == Decimal("1000")
    assert row.total_value == Decimal("9500")
    assert row.household.advisor.user == alice.user


def _many_accounts(household, user, count, securities):
    return bulk_funded_accounts(
        household=household,
        count=count,
        holdings={"AAPL": Decimal("2"), "BND": Decimal("5")},
        cash=Decimal("100.00"),
        acting_user=user,
        model=ModelPortfolioFactory(firm=household.firm),
    )


def test_the_book_takes_one_query_for_10_or_500_accounts(alice, alice_household, securities):
    _many_accounts(alice_household, alice.user, 10, securities)
    alice.user.roles  # the user's groups, read once per request
    with CaptureQueriesContext(connection) as few:
        rows = list(selectors.account_list_for_user(user=alice.user))
        assert [r.model.name for r in rows] and [r.household.advisor.user.email for r in rows]
    assert len(rows) == 10
    bulk_funded_accounts(
        household=alice_household,
        count=490,
        holdings={"AAPL": Decimal("1")},
        cash=Decimal("1.00"),
        acting_user=alice.user,
        prefix="MORE",
    )
    with CaptureQueriesContext(connection) as many:
        rows = list(selectors.account_list_for_user(user=alice.user))
        [(r.model, r.household.advisor.user, r.market_value) for r in rows]
    assert len(rows) == 500
    assert len(many) == len(few) == 1
    assert sum(r.market_value for r in rows) == 10 * (2 * 150 + 5 * 70) + 490 * 150


def test_account_positions_have_price_value_weight_and_cost(funded, securities, django_assert_num_queries):
    with django_assert_num_queries(1):
        holdings = selectors.account_positions(funded)
    aapl, bnd = holdings.positions
    assert (aapl.symbol, aapl.price, aapl.market_value, aapl.cost_basis) == (
        "AAPL",
        Decimal("150"),
        Decimal("1500.00"),
        Decimal("1120.00"),
    )
    assert aapl.unrealised_gain == Decimal("380.00")
    assert aapl.weight == Decimal("1500") / Decimal("9500")
    assert holdings.total_value == Decimal("9500.00")
    assert sum((p.weight for p in holdings.positions), holdings.cash_weight) == 1


def test_account_positions_read_the_model_targets_in_one_more_query(funded, securities, django_assert_num_queries):
    model = ModelPortfolioFactory(firm=funded.household.firm, cash_target=Decimal("0.1"))
    ModelTargetFactory(model=model, security=securities["AAPL"], weight=Decimal("0.5"))
    ModelTargetFactory(model=model, security=securities["BND"], weight=Decimal("0.4"))
    InvestmentAccount.objects.filter(pk=funded.pk).update(model=model)
    funded.refresh_from_db()
    with django_assert_num_queries(2):
        holdings = selectors.account_positions(funded)
    assert {p.symbol: p.target_weight for p in holdings.positions} == {"AAPL": Decimal("0.5"), "BND": Decimal("0.4")}
    with django_assert_num_queries(1):
        bare = selectors.account_positions(funded, with_targets=False)
    assert {p.target_weight for p in bare.positions} == {Decimal("0")}


def test_account_positions_as_of_a_day_use_that_days_closes(funded, securities):
    holdings = selectors.account_positions(funded, as_of=date.today() - timedelta(days=1))
    aapl, bnd = holdings.positions
    assert (aapl.price, aapl.price_date, aapl.market_value) == (
        Decimal("149"),
        date.today() - timedelta(days=1),
        Decimal("1490.00"),
    )
    assert (bnd.price, bnd.market_value) == (Decimal("69"), Decimal("6900.00"))
    assert holdings.total_value == Decimal("9390.00")


def test_a_position_without_a_close_is_shown_at_zero_value(funded, securities):
    holdings = selectors.account_positions(funded, as_of=date.today() - timedelta(days=30))
    assert [(p.symbol, p.price, p.price_date, p.market_value) for p in holdings.positions] == [
        ("AAPL", None, None, Decimal("0")),
        ("BND", None, None, Decimal("0")),
    ]
    assert (holdings.cash, holdings.total_value, holdings.cash_weight) == (Decimal("1000.00"), Decimal("1000.00"), 1)


def test_a_cash_only_account_reads_its_cash(alice_household, securities, django_assert_num_queries):
    from tests.trading.factories import account_with

    account = account_with(alice_household, cash="2500.01")
    with django_assert_num_queries(2):
        holdings = selectors.account_positions(account)
    assert (holdings.positions, holdings.cash, holdings.total_value, holdings.cash_weight) == (
        (),
        Decimal("2500.01"),
        Decimal("2500.01"),
        1,
    )
    empty = account_with(alice_household)
    assert (selectors.account_positions(empty).total_value, selectors.account_positions(empty).cash_weight) == (0, 0)


def test_engine_snapshots_hold_everything_the_engine_needs(funded, securities, alice):
    model = ModelPortfolioFactory(firm=funded.household.firm, cash_target=Decimal("0.1"))
    ModelTargetFactory(model=model, security=securities["AAPL"], weight=Decimal("0.5"))
    ModelTargetFactory(model=model, security=securities["VXUS"], weight=Decimal("0.4"))
    InvestmentAccount.objects.filter(pk=funded.pk).update(model=model)
    services.lots_relieve(
        account=funded,
        security=securities["AAPL"],
        quantity=Decimal("1"),
        price=Decimal("50"),
        closed_on=date.today() - timedelta(days=3),
        acting_user=alice.user,
    )
    snapshot = selectors.engine_snapshots(account_ids=[funded.pk])[funded.pk]
    by_symbol = {h.symbol: h for h in snapshot.holdings}
    assert set(by_symbol) == {"AAPL", "BND", "VXUS"}
    assert by_symbol["VXUS"].quantity == 0 and by_symbol["VXUS"].target_weight == Decimal("0.4")
    assert by_symbol["BND"].target_weight == 0
    assert by_symbol["AAPL"].price == Decimal("150")
    assert [lot.quantity for lot in by_symbol["AAPL"].lots] == [Decimal("4"), Decimal("5")]
    assert by_symbol["AAPL"].last_loss_sale_on == date.today() - timedelta(days=3)
    assert snapshot.cash == Decimal("1000.00")
    assert snapshot.cash_target == Decimal("0.1")
    assert snapshot.threshold == Decimal("0.05")


def test_engine_snapshots_take_a_fixed_number_of_queries(alice, alice_household, securities):
    model = ModelPortfolioFactory(firm=alice.firm)
    ModelTargetFactory(model=model, security=securities["AAPL"], weight=Decimal("1"))
    small = bulk_funded_accounts(
        household=alice_household,
        count=10,
        holdings={"AAPL": Decimal("2")},
        cash=Decimal("5.00"),
        acting_user=alice.user,
        model=model,
        prefix="S",
    )
    large = bulk_funded_accounts(
        household=alice_household,
        count=500,
        holdings={"AAPL": Decimal("2"), "BND": Decimal("1")},
        cash=Decimal("5.00"),
        acting_user=alice.user,
        model=model,
        prefix="L",
    )
    with CaptureQueriesContext(connection) as few:
        assert len(selectors.engine_snapshots(account_ids=[a.pk for a in small])) == 10
    with CaptureQueriesContext(connection) as many:
        assert len(selectors.engine_snapshots(account_ids=[a.pk for a in large])) == 500
    assert len(few) == len(many) <= 8


def test_engine_snapshots_fast_path_equals_the_portable_orm_path(funded, securities, alice, alice_household):
    """PostgreSQL reads raw tuples; SQLite goes through the ORM: the same snapshots either way."""
    model = ModelPortfolioFactory(firm=funded.household.firm, cash_target=Decimal("0.05"))
    ModelTargetFactory(model=model, security=securities["AAPL"], weight=Decimal("0.5"))
    ModelTargetFactory(model=model, security=securities["VXUS"], weight=Decimal("0.45"))
    InvestmentAccount.objects.filter(pk=funded.pk).update(model=model)
    services.lots_relieve(
        account=funded,
        security=securities["AAPL"],
        quantity=Decimal("2"),
        price=Decimal("50"),
        closed_on=date.today() - timedelta(days=1),
        acting_user=alice.user,
    )
    services.transfer_in(  # a lot older than the others, made last: lots are ordered by date, then id
        account=funded,
        positions=[
            {"symbol": "AAPL", "quantity": Decimal("1"), "cost_basis": Decimal("90"), "acquired_on": date(2019, 5, 6)},
            {"symbol": "AAPL", "quantity": Decimal("2"), "cost_basis": Decimal("90"), "acquired_on": date(2021, 1, 4)},
            {"symbol": "BND", "quantity": Decimal("4"), "cost_basis": Decimal("300"), "acquired_on": date(2021, 1, 4)},
        ],
        acting_user=alice.user,
        idempotency_key="older-lot",
    )
    # A harvest's substitute held: BND stands in for AAPL, sharing its 50% by value.
    SubstitutionPair.objects.create(model=model, security=securities["AAPL"], substitute=securities["BND"])
    securities["VXUS"].is_active = False
    securities["VXUS"].save()
    unpriced = services.security_create(symbol="NOPX", acting_user=alice.user)
    ModelTargetFactory(model=ModelPortfolioFactory(firm=alice.firm), security=unpriced, weight=Decimal("1"))
    others = bulk_funded_accounts(
        household=alice_household,
        count=3,
        holdings={"BND": Decimal("3.5"), "NOPX": Decimal("1")},
        cash=Decimal("12.34"),
        acting_user=alice.user,
        prefix="EQ",
    )
    ids = [funded.pk, *(a.pk for a in others), 999_999]
    for as_of in (None, date.today() - timedelta(days=1), date.today() - timedelta(days=400)):
        fast = selectors.engine_snapshots(account_ids=ids, as_of=as_of)
        portable = snapshots._engine_snapshots_orm(ids, as_of or timezone.localdate())
        assert fast == portable
        aapl = next(h for h in fast[funded.pk].holdings if h.symbol == "AAPL")
        assert [lot.acquired_on for lot in aapl.lots] == sorted(lot.acquired_on for lot in aapl.lots)
        assert aapl.lots[0].acquired_on == date(2019, 5, 6)
        assert set(fast) == set(ids) - {999_999}
        weights = {h.symbol: h.target_weight for h in fast[funded.pk].holdings}
        if as_of is None:
            assert Decimal(0) < weights["BND"] < Decimal("0.5")
            assert weights["AAPL"] + weights["BND"] == Decimal("0.5")
    assert selectors.engine_snapshots(account_ids=[]) == {}


def test_account_drift_reports_the_breach(alice, account, securities):
    model = ModelPortfolioFactory(firm=alice.firm)
    ModelTargetFactory(model=model, security=securities["AAPL"], weight=Decimal("0.5"))
    ModelTargetFactory(model=model, security=securities["BND"], weight=Decimal("0.5"))
    InvestmentAccount.objects.filter(pk=account.pk).update(model=model)
    services.transfer_in(
        account=account,
        positions=[{"symbol": "AAPL", "quantity": Decimal("10"), "cost_basis": Decimal("1000")}],
        acting_user=alice.user,
        idempotency_key="drift",
    )
    account.refresh_from_db()
    drift = selectors.account_drift(account)
    assert drift.breached
    assert drift.max_drift == Decimal("0.5")


def test_performance_is_built_from_the_valuation_snapshots(funded, securities, alice):
    today = date.today()
    PriceFactory(security=securities["AAPL"], date=today - timedelta(days=2), close=Decimal("140"))
    services.valuation_snapshots_write(as_of=today, account_ids=[funded.pk])
    report = selectors.account_performance(funded, today - timedelta(days=10), today)
    assert report.period_return == 0  # one point: no return yet
    series = selectors.account_valuation_series(funded, today - timedelta(days=10), today)
    assert [s.date for s in series] == [today]
