"""Performance through the API and the pages: MWR, gross and net of fees, a blended benchmark
chosen per model, household or account, and the household's return over its accounts."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.services import system_user
from portfolios import ledger, services
from portfolios.engine.performance import ValuePoint, combine, daily_returns, period_return
from portfolios.ledger import PostingSpec
from portfolios.models import JournalEntry, LedgerBook, ValuationSnapshot
from tests.accounts.factories import AdvisorFactory
from tests.portfolios.factories import InvestmentAccountFactory, PriceFactory, SecurityFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_suitability_hook")]

D = Decimal
D0, D1, D2 = date(2025, 1, 30), date(2025, 1, 31), date(2025, 2, 3)
RANGE = {"start": D0.isoformat(), "end": D2.isoformat()}


@pytest.fixture
def blend(alice):
    """SPY 100 / 110 / 99 and AGG 50 / 50 / 51 over Jan 30, Jan 31 (a month end), Feb 3; a 60/40 blend."""
    for symbol, closes in (("SPY", (100, 110, 99)), ("AGG", (50, 50, 51))):
        security = SecurityFactory(symbol=symbol)
        for day, close in zip((D0, D1, D2), closes, strict=True):
            PriceFactory(security=security, date=day, close=D(close))
    return services.benchmark_create(
        firm=alice.firm, name="Balanced", components=[("SPY", "0.6"), ("AGG", "0.4")], acting_user=system_user()
    )


def _valued(household, values, flows=None):
    account = InvestmentAccountFactory(household=household, opened_on=date(2024, 12, 1))
    flows = flows or {}
    ValuationSnapshot.objects.bulk_create(
        [
            ValuationSnapshot(
                account=account, date=d, market_value=D(v), cash=D(0), net_external_flow=D(flows.get(d, 0))
            )
            for d, v in zip((D0, D1, D2), values, strict=True)
        ]
    )
    return account


def _fee(account, amount, day):
    ledger.post_entry(
        kind=JournalEntry.Kind.FEE,
        postings=[
            PostingSpec.cash(ledger.client_book(account), -D(amount), "USD"),
            PostingSpec.cash(
                ledger.system_book(LedgerBook.Kind.FEES_INCOME, firm=account.household.firm), D(amount), "USD"
            ),
        ],
        effective_date=day,
        acting_user=system_user(),
        allow_negative=True,
    )


def test_account_performance_has_mwr_gross_and_net_and_the_models_blend(api, alice, alice_household, blend):
    account = _valued(alice_household, (10_000, 10_100, 10_075))
    _fee(account, 25, D2)  # the market was flat on Feb 3: the 25.00 fee is the whole fall
    services.benchmark_assign(benchmark=blend, account=account, acting_user=system_user())
    body = api(alice.user, "read").get(f"/api/v1/accounts/{account.pk}/performance/", RANGE).json()
    # net: 10,100 / 10,000 x 10,075 / 10,100 - 1 = 0.75%; gross: the fee a withdrawal, 10,075 / 10,075 = 0 on Feb 3
    assert D(body["twr"]) == D(body["twr_net"]) == D("0.0075")
    assert D(body["twr_gross"]) == D("0.01")
    # money-weighted over 4 days with no flow in between: the same 0.75% (to the 8 places answered)
    assert D(body["mwr"]) == D("0.0075")
    assert body["annualized_mwr"] is None
    # 60/40 rebalanced at Jan 31's close: 1.06 x (0.6 x 0.9 + 0.4 x 1.02) - 1 = +0.488%
    assert body["benchmark"] == "60% SPY / 40% AGG"
    assert D(body["benchmark_twr"]) == D("0.00488")


def test_the_benchmark_is_the_accounts_else_the_households_else_the_models_else_spy(api, alice, alice_household, blend):
    account = _valued(alice_household, (10_000, 10_100, 10_075))
    client = api(alice.user, "read")

    def benchmark():
        return client.get(f"/api/v1/accounts/{account.pk}/performance/", RANGE).json()["benchmark"]

    assert benchmark() == "SPY"  # the firm-wide benchmark
    equity = services.benchmark_create(
        firm=alice.firm, name="Equity", components=[("SPY", "1")], acting_user=system_user()
    )
    bonds = services.benchmark_create(
        firm=alice.firm, name="Bonds heavy", components=[("AGG", "0.7"), ("SPY", "0.3")], acting_user=system_user()
    )
    services.benchmark_assign(benchmark=blend, household=alice_household, acting_user=system_user())
    assert benchmark() == "60% SPY / 40% AGG"
    services.benchmark_assign(benchmark=bonds, account=account, acting_user=system_user())
    assert benchmark() == "70% AGG / 30% SPY"
    services.benchmark_assign(benchmark=None, account=account, acting_user=system_user())
    services.benchmark_assign(benchmark=None, household=alice_household, acting_user=system_user())
    assert benchmark() == "SPY"
    assert equity.components.count() == 1


def test_a_blend_must_sum_to_one_and_name_known_securities(alice, blend):
    from portfolios.errors import PortfoliosError

    with pytest.raises(PortfoliosError, match="sum to 1"):
        services.benchmark_create(firm=alice.firm, name="Bad", components=[("SPY", "0.6")], acting_user=system_user())
    with pytest.raises(PortfoliosError, match="Unknown securities: ZZZ"):
        services.benchmark_create(
            firm=alice.firm, name="Bad", components=[("SPY", "0.5"), ("zzz", "0.5")], acting_user=system_user()
        )
    again = services.benchmark_create(
        firm=alice.firm, name="Balanced", components=[("AGG", "0.4"), ("SPY", "0.6")], acting_user=system_user()
    )
    assert again == blend  # a retry


def test_household_performance_links_its_accounts_value_weighted(api, alice, alice_household, blend):
    a = _valued(alice_household, (10_000, 10_100, 10_075))
    b = _valued(alice_household, (30_000, 29_700, 35_000), flows={D2: 5_000})
    services.benchmark_assign(benchmark=blend, household=alice_household, acting_user=system_user())
    body = api(alice.user, "read").get(f"/api/v1/households/{alice_household.pk}/performance/", RANGE).json()
    assert sorted(body["accounts"]) == [a.pk, b.pk]
    assert body["benchmark"] == "60% SPY / 40% AGG"
    # each day the accounts' returns weighted by their V_{t-1} + F_t
    pa = [ValuePoint(D0, D(10_000)), ValuePoint(D1, D(10_100)), ValuePoint(D2, D(10_075))]
    pb = [ValuePoint(D0, D(30_000)), ValuePoint(D1, D(29_700)), ValuePoint(D2, D(35_000), D(5_000))]
    linked = D(1)
    for i in (1, 2):
        ra = daily_returns(pa[i - 1 : i + 1])[0].r
        rb = daily_returns(pb[i - 1 : i + 1])[0].r
        wa, wb = pa[i - 1].value + pa[i].flow, pb[i - 1].value + pb[i].flow
        linked *= 1 + (wa * ra + wb * rb) / (wa + wb)
    # the API answers returns to 8 places
    assert D(body["twr"]) == (linked - 1).quantize(D("1e-8")).normalize() == D("0.0011077")
    assert abs(period_return(combine([pa, pb])) - (linked - 1)) < D("1e-24")
    assert body["series"][-1]["value"] == {"amount": "45075.00", "currency": "USD"}
    assert {"mwr", "twr_gross", "twr_net", "annualized_twr"} <= set(body)


def test_household_performance_is_scoped_like_the_household(api, alice, bob, charlie, alice_household, bob_household):
    _valued(alice_household, (10_000, 10_100, 10_075))
    url = f"/api/v1/households/{alice_household.pk}/performance/"
    assert api(charlie, "read").get(url, RANGE).status_code == 200  # the investor's own household
    assert api(charlie, "read").get(f"/api/v1/households/{bob_household.pk}/performance/", RANGE).status_code == 404
    assert api(bob.user, "read").get(url, RANGE).status_code == 404  # another advisor's household
    stranger = AdvisorFactory()  # another firm
    assert api(stranger.user, "read").get(url, RANGE).status_code == 404
    assert api(alice.user, "read").get(url, {"start": "2025-02-30"}).status_code == 400


def test_the_pages_show_the_same_returns(verified_client, alice, alice_household, blend):
    account = _valued(alice_household, (10_000, 10_100, 10_075))
    _fee(account, 25, D2)
    services.benchmark_assign(benchmark=blend, household=alice_household, acting_user=system_user())
    client = verified_client(alice.user)
    page = client.get(f"/accounts/{account.pk}/").text
    assert "60% SPY / 40% AGG" in page
    assert "Money-weighted" in page and "Gross of fees" in page
    household = client.get(f"/households/{alice_household.pk}/accounts/").text
    assert "Household performance" in household
    assert "60% SPY / 40% AGG" in household
