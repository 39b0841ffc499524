"""The portfolios API, positions, drift and performance of an account."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from portfolios import services
from portfolios.models import InvestmentAccount, Security, TaxLot
from tests.portfolios.api_helpers import count_queries
from tests.portfolios.factories import PriceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_suitability_hook")]


def test_positions_answer_quantities_weights_and_money(api, charlie, modelled):
    rows = api(charlie, "read").get(f"/api/v1/accounts/{modelled.pk}/positions/").json()
    aapl = next(r for r in rows if r["symbol"] == "AAPL")
    assert aapl["quantity"] == "10"
    assert aapl["price"] == "150"
    assert aapl["market_value"] == {"amount": "1500.00", "currency": "USD"}
    assert aapl["weight"] == "0.157895"
    assert aapl["cost_basis"] == {"amount": "1120.00", "currency": "USD"}


@pytest.mark.usefixtures("uncached")  # the database path: the N+1 guard, not cache hits
def test_positions_keep_a_fixed_query_count(api, alice, modelled, securities):
    client = api(alice.user, "read")
    before = count_queries(client, f"/api/v1/accounts/{modelled.pk}/positions/")
    services.transfer_in(
        account=modelled,
        positions=[{"symbol": "VXUS", "quantity": Decimal("2"), "cost_basis": Decimal("100")}],
        acting_user=alice.user,
        idempotency_key="more",
    )
    assert count_queries(client, f"/api/v1/accounts/{modelled.pk}/positions/") == before


def test_drift_per_holding_with_cash(api, alice, modelled):
    body = api(alice.user, "read").get(f"/api/v1/accounts/{modelled.pk}/drift/").json()
    assert body["needs_rebalance"] is True
    assert body["threshold"] == "0.05"
    assert body["max_drift"] == "0.442105"
    rows = {r["symbol"]: r for r in body["holdings"]}
    assert set(rows) == {"AAPL", "BND", "CASH"}
    assert rows["AAPL"] == {
        "symbol": "AAPL", "target_weight": "0.6", "actual_weight": "0.157895", "drift": "-0.442105",
        "band": "0.05", "breached": True,
    }  # fmt: skip
    assert rows["CASH"]["target_weight"] == "0"


def test_drift_without_a_model_says_so(api, alice, funded):
    body = api(alice.user, "read").get(f"/api/v1/accounts/{funded.pk}/drift/").json()
    assert body["max_drift"] is None and body["needs_rebalance"] is False and body["holdings"] == []


def test_performance_links_daily_returns_against_the_benchmark(api, alice, modelled, securities):
    spy = Security.objects.create(symbol="SPY")
    d0, d1, d2 = (date.today() - timedelta(days=n) for n in (12, 11, 10))
    for day, close in ((d0, 400), (d1, 404), (d2, 410)):
        PriceFactory(security=spy, date=day, close=Decimal(close))
    for day, aapl in ((d0, 100), (d1, 110), (d2, 121)):
        PriceFactory(security=securities["AAPL"], date=day, close=Decimal(aapl))
        PriceFactory(security=securities["BND"], date=day, close=Decimal(70))
    InvestmentAccount.objects.filter(pk=modelled.pk).update(opened_on=d0 - timedelta(days=30))
    TaxLot.objects.filter(account=modelled)  # the lots stay; valuations come from postings and prices
    for day in (d0, d1, d2):
        services.valuation_snapshot_write(account=modelled, date=day)
    body = (
        api(alice.user, "read")
        .get(f"/api/v1/accounts/{modelled.pk}/performance/", {"start": d0.isoformat(), "end": d2.isoformat()})
        .json()
    )
    # Holdings are posted today, so the snapshots before today hold nothing: value 0, return 0.
    assert body["start"] == d0.isoformat() and body["end"] == d2.isoformat()
    assert body["benchmark"] == "SPY"
    assert body["benchmark_twr"] == "0.025"
    assert [p["date"] for p in body["series"]] == [d0.isoformat(), d1.isoformat(), d2.isoformat()]
    assert all(set(p) == {"date", "value", "twr"} for p in body["series"])
    assert body["annualized_twr"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"start": "yesterday"},
        {"start": "2024-02-30"},
        {"end": "2999-01-01"},
        {"start": "2024-05-01", "end": "2024-04-01"},
    ],
)
def test_performance_refuses_bad_dates(api, alice, modelled, params):
    answer = api(alice.user, "read").get(f"/api/v1/accounts/{modelled.pk}/performance/", params)
    assert answer.status_code == 400
    assert set(answer.json()) & {"start", "end"}


@pytest.mark.parametrize("path", ["positions", "lots", "drift", "realized-gains"])
def test_an_advisor_who_is_also_a_member_of_the_household_reads_the_account_once(api, alice, modelled, bob, path):
    """The scope joins the household's members: an advisor who is also one of several members
    must still get the one account (not a duplicated row, a 500), and another advisor a 404."""
    from accounts.models import Role
    from tests.accounts.factories import InvestorFactory

    household = modelled.household
    alice.user.groups.add(*Group.objects.filter(name=Role.INVESTOR))
    InvestorFactory(user=alice.user, firm=household.firm, households=[household])
    InvestorFactory(firm=household.firm, households=[household])
    response = api(alice.user, "read").get(f"/api/v1/accounts/{modelled.pk}/{path}/")
    assert response.status_code == 200, response.content
    assert api(bob.user, "read").get(f"/api/v1/accounts/{modelled.pk}/{path}/").status_code == 404


def test_the_positions_lean_answer_is_what_its_schema_serializer_writes(modelled):
    """The positions answer is built directly (`position_dicts`); `PositionOutput` is its schema:
    both write the same keys, in the same order, with the same strings (a fractional quantity, a
    security with no close yet and a zero weight included)."""
    from dataclasses import replace

    from kronos.api.fields import money_dict
    from portfolios.api.accounts import PositionOutput, position_dicts
    from portfolios.selectors.holdings import account_positions

    held = account_positions(modelled, with_targets=False).positions
    assert held
    unpriced = replace(held[0], symbol="NEW", quantity=Decimal("0.123456789"), price=None, weight=Decimal(0))
    positions = (*held, unpriced)
    for currency in ("USD", "JPY"):
        lean = position_dicts(positions, currency)
        schema = PositionOutput(
            [
                {
                    "symbol": p.symbol,
                    "quantity": p.quantity,
                    "price": p.price,
                    "market_value": money_dict(p.market_value, currency),
                    "weight": p.weight,
                    "cost_basis": money_dict(p.cost_basis, currency),
                    "unrealised_gain": money_dict(p.unrealised_gain, currency),
                }
                for p in positions
            ],
            many=True,
        ).data
        assert [list(row) for row in lean] == [list(row) for row in schema]
        assert lean == [dict(row) for row in schema]


def test_positions_for_user_reads_the_holdings_with_the_scope_in_one_query(alice, bob, modelled):
    """The positions API's read: for an account holding something, one query (its scope checked
    in it) gives what `account_for_user` and `account_positions` gave; an account holding nothing
    gives its cash alone, and another advisor's account is a 404."""
    from django.db import connection
    from django.http import Http404
    from django.test.utils import CaptureQueriesContext

    from portfolios.selectors.holdings import account_positions, positions_for_user
    from tests.portfolios.factories import InvestmentAccountFactory

    assert alice.user.roles  # read with the user, as every request reads them
    with CaptureQueriesContext(connection) as queries:
        currency, holdings = positions_for_user(user=alice.user, pk=modelled.pk)
    assert len(queries) == 1 and holdings.positions
    assert (currency, holdings) == (modelled.base_currency, account_positions(modelled, with_targets=False))
    empty = InvestmentAccountFactory(household=modelled.household, custodian_account_number="KR-0002")
    currency, holdings = positions_for_user(user=alice.user, pk=empty.pk)
    assert (currency, holdings) == (empty.base_currency, account_positions(empty, with_targets=False))
    assert holdings.positions == ()
    for pk in (modelled.pk, str(modelled.pk), 2**40):
        with pytest.raises(Http404):
            positions_for_user(user=bob.user, pk=pk)
