from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from moneyed import Money

from portfolios import services
from portfolios.checks import MODEL_ASSIGN_CHECKS
from portfolios.errors import PortfoliosError
from portfolios.models import CashBalance, InvestmentAccount, LotClosure, ModelTarget, Position, Price, TaxLot
from tests.portfolios.factories import ModelPortfolioFactory

pytestmark = pytest.mark.django_db


def refuse_everything(account, model):
    raise PortfoliosError("Unsuitable for this household.", field="model")


# --- securities and prices --------------------------------------------------------------------


def test_a_security_symbol_is_stored_upper_case_and_must_be_new(alice):
    security = services.security_create(symbol=" vti ", name="Total Market", acting_user=alice.user)
    assert security.symbol == "VTI"
    assert security.history.first().history_user == alice.user
    with pytest.raises(PortfoliosError, match="already exists"):
        services.security_create(symbol="VTI", acting_user=alice.user)


def test_prices_store_is_all_or_nothing(securities):
    rows = [
        {"symbol": "AAPL", "date": date(2024, 1, 2), "close": "185.64"},
        {"symbol": "AAPL", "date": date(2024, 1, 3), "close": "0"},
    ]
    with pytest.raises(PortfoliosError, match="not a positive number"):
        services.prices_store(rows=rows)
    assert not Price.objects.filter(date__year=2024).exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"symbol": "AAPL", "date": "tomorrow", "close": "1"}, "in the future"),
        ({"symbol": "NOPE", "date": date(2024, 1, 2), "close": "1"}, "Unknown symbol: NOPE"),
        ({"symbol": "AAPL", "date": date(2024, 1, 2), "close": "-3"}, "not a positive number: '-3'"),
        ({"symbol": "AAPL", "date": date(2024, 1, 2), "close": 1.5}, "not a positive number"),
    ],
)
def test_bad_prices_are_refused_with_a_reason(securities, row, message):
    if row["date"] == "tomorrow":  # read when the test runs: a run that crosses midnight keeps it tomorrow
        row = {**row, "date": timezone.localdate() + timedelta(days=1)}
    with pytest.raises(PortfoliosError, match=message):
        services.prices_store(rows=[row])


def test_prices_store_reports_new_and_changed_rows(securities):
    first = services.prices_store(rows=[services.PriceRow("AAPL", date(2024, 1, 2), Decimal("185.6412345"))])
    assert (first.inserted, first.changed) == (1, 0)
    assert Price.objects.get(date=date(2024, 1, 2)).close == Decimal("185.641234")  # half-even to 6 places
    second = services.prices_store(rows=[services.PriceRow("AAPL", date(2024, 1, 2), Decimal("185.70"))])
    assert (second.inserted, second.changed) == (0, 1)


# --- model portfolios --------------------------------------------------------------------------


def test_a_model_is_created_with_targets_summing_to_100_percent(alice, securities):
    model = services.model_portfolio_create(
        firm=alice.firm,
        name="Balanced",
        risk_level=5,
        targets={"AAPL": Decimal("0.6"), "BND": Decimal("0.35")},
        cash_target=Decimal("0.05"),
        acting_user=alice.user,
    )
    assert {t.security.symbol: t.weight for t in model.targets.all()} == {
        "AAPL": Decimal("0.6"),
        "BND": Decimal("0.35"),
    }


def test_targets_not_summing_to_100_percent_are_refused_with_the_sum(alice, securities):
    with pytest.raises(PortfoliosError) as exc:
        services.model_portfolio_create(
            firm=alice.firm,
            name="Short",
            risk_level=5,
            targets={"AAPL": Decimal("0.6"), "BND": Decimal("0.35")},
            acting_user=alice.user,
        )
    assert exc.value.message == "Target weights sum to 95.00%; they must sum to exactly 100%."
    assert exc.value.field == "targets"


def test_unknown_symbols_in_targets_are_refused(alice, securities):
    with pytest.raises(PortfoliosError, match="Unknown symbol: ZZZ"):
        services.model_portfolio_create(
            firm=alice.firm, name="X", risk_level=5, targets={"ZZZ": Decimal("1")}, acting_user=alice.user
        )


def test_updating_targets_replaces_them_and_keeps_the_old_version_in_history(alice, securities):
    model = services.model_portfolio_create(
        firm=alice.firm, name="Growth", risk_level=8, targets={"AAPL": Decimal("1")}, acting_user=alice.user
    )
    services.model_portfolio_update(
        model=model, targets={"VXUS": Decimal("0.5"), "BND": Decimal("0.5")}, acting_user=alice.user
    )
    assert sorted(model.targets.values_list("security__symbol", flat=True)) == ["BND", "VXUS"]
    deleted = ModelTarget.history.filter(history_type="-").get()
    assert deleted.security.symbol == "AAPL"
    assert deleted.history_user == alice.user
    with pytest.raises(PortfoliosError, match="sum to 90.00%"):
        services.model_portfolio_update(model=model, targets={"BND": Decimal("0.9")}, acting_user=alice.user)


# --- accounts --------------------------------------------------------------------------------


def test_an_account_is_opened_by_the_households_advisor_with_validated_settings(alice, alice_household):
    account = services.account_create(
        household=alice_household,
        name="Joint brokerage",
        custodian_account_number="C-1",
        acting_user=alice.user,
        drift_threshold=Decimal("0.03"),
        min_trade_amount=Money("25.00", "USD"),
    )
    assert account.drift_threshold == Decimal("0.03")
    assert account.min_trade_amount == Decimal("25.00")
    assert account.book.kind == "client"


def test_another_advisor_cannot_open_an_account_for_the_household(bob, alice_household):
    with pytest.raises(PortfoliosError, match="may not open accounts"):
        services.account_create(
            household=alice_household, name="X", custodian_account_number="C-2", acting_user=bob.user
        )


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("drift_threshold", Decimal("0"), "drift_threshold"),
        ("drift_threshold", Decimal("1.01"), "drift_threshold"),
        ("cash_reserve", Decimal("1"), "cash_reserve"),
        ("cash_reserve", Decimal("-0.01"), "cash_reserve"),
        ("min_trade_amount", Decimal("-1"), "min_trade_amount"),
        ("band_mode", "sideways", "band_mode"),
    ],
)
def test_bad_account_settings_are_refused(alice, alice_household, setting, value, field):
    with pytest.raises(PortfoliosError) as exc:
        services.account_create(
            household=alice_household,
            name="X",
            custodian_account_number="C-3",
            acting_user=alice.user,
            **{setting: value},
        )
    assert exc.value.field == field
    assert not InvestmentAccount.objects.exists()


def test_closing_an_account_sets_the_date_and_it_cannot_reopen(alice, account):
    services.account_update(account=account, status="closed", acting_user=alice.user)
    account.refresh_from_db()
    assert account.closed_on == date.today()
    with pytest.raises(PortfoliosError, match="cannot be reopened"):
        services.account_update(account=account, status="open", acting_user=alice.user)


def test_model_assign_runs_the_configured_checks(alice, account, securities, settings, override_checks):
    override_checks(MODEL_ASSIGN_CHECKS)
    model = ModelPortfolioFactory(firm=alice.firm)
    services.model_assign(account=account, model=model, acting_user=alice.user)
    assert InvestmentAccount.objects.get(pk=account.pk).model == model
    override_checks(MODEL_ASSIGN_CHECKS, refuse_everything)
    other = ModelPortfolioFactory(firm=alice.firm)
    with pytest.raises(PortfoliosError, match="Unsuitable"):
        services.model_assign(account=account, model=other, acting_user=alice.user)
    assert InvestmentAccount.objects.get(pk=account.pk).model == model


def test_a_model_of_another_firm_cannot_be_assigned(alice, account):
    with pytest.raises(PortfoliosError, match="another firm"):
        services.model_assign(account=account, model=ModelPortfolioFactory(), acting_user=alice.user)


# --- transfers in and lots --------------------------------------------------------------------


def test_transfer_in_creates_positions_cash_and_one_lot_per_position(funded, securities):
    assert Position.objects.get(account=funded, security=securities["AAPL"]).quantity == 10
    assert CashBalance.objects.get(account=funded).amount == Decimal("1000.00")
    lots = TaxLot.objects.filter(account=funded, security=securities["AAPL"]).order_by("acquired_on")
    assert [(lot.quantity, lot.cost_per_share) for lot in lots] == [(4, Decimal("100")), (6, Decimal("120"))]


def test_transfer_in_retried_with_the_same_key_changes_nothing(funded, securities, alice):
    services.transfer_in(
        account=funded,
        positions=[{"symbol": "AAPL", "quantity": Decimal("4"), "cost_basis": Decimal("400")}],
        acting_user=alice.user,
        idempotency_key="fund-KR-0001",
    )
    assert Position.objects.get(account=funded, security=securities["AAPL"]).quantity == 10
    assert TaxLot.objects.filter(account=funded).count() == 3


@pytest.mark.parametrize(
    ("position", "message"),
    [
        ({"symbol": "AAPL", "quantity": "0", "cost_basis": "1"}, "must be positive"),
        ({"symbol": "AAPL", "quantity": "-1", "cost_basis": "1"}, "must be positive"),
        ({"symbol": "NOPE", "quantity": "1", "cost_basis": "1"}, "Unknown symbol: NOPE"),
    ],
)
def test_bad_transfers_are_refused(account, securities, alice, position, message):
    with pytest.raises(PortfoliosError, match=message):
        services.transfer_in(account=account, positions=[position], acting_user=alice.user, idempotency_key="t")
    assert not Position.objects.exists()


def test_lots_relieve_closes_the_highest_cost_lots_first_and_records_the_gain(funded, securities, alice):
    closures = services.lots_relieve(
        account=funded,
        security=securities["AAPL"],
        quantity=Decimal("7"),
        price=Decimal("110"),
        closed_on=date.today(),
        acting_user=alice.user,
    )
    # 6 @ 120 (the 2021 lot) first: proceeds 660, cost 720, gain -60; then 1 @ 100: gain +10.
    assert [(c.quantity, c.proceeds, c.cost, c.gain) for c in closures] == [
        (6, Decimal("660.00"), Decimal("720.00"), Decimal("-60.00")),
        (1, Decimal("110.00"), Decimal("100.00"), Decimal("10.00")),
    ]
    lots = TaxLot.objects.filter(account=funded, security=securities["AAPL"]).order_by("acquired_on")
    assert [lot.quantity for lot in lots] == [3, 0]
    assert lots[1].closed_on == date.today()


def test_lots_relieve_fifo_closes_the_oldest_first(funded, securities, alice):
    closures = services.lots_relieve(
        account=funded,
        security=securities["AAPL"],
        quantity=Decimal("5"),
        price=Decimal("130"),
        closed_on=date.today(),
        method="fifo",
        acting_user=alice.user,
    )
    assert [(c.quantity, c.gain) for c in closures] == [(4, Decimal("120.00")), (1, Decimal("10.00"))]


def test_relieving_more_than_the_open_lots_is_refused(funded, securities, alice):
    with pytest.raises(PortfoliosError, match="Only 10 AAPL"):
        services.lots_relieve(
            account=funded,
            security=securities["AAPL"],
            quantity=Decimal("10.5"),
            price=Decimal("1"),
            closed_on=date.today(),
            acting_user=alice.user,
        )
    assert not LotClosure.objects.exists()


# --- valuations -------------------------------------------------------------------------------


def test_a_lot_opens_in_two_writes_and_refuses_what_its_columns_cannot_hold(
    funded, securities, alice, django_assert_num_queries
):
    with django_assert_num_queries(2):  # the lot and its history row (no savepoint of its own)
        lot = services.lot_open(account=funded, security=securities["AAPL"], quantity=Decimal("3"),
                                cost_per_share=Decimal("101.1234567"), acquired_on=date(2025, 1, 2),
                                acting_user=alice.user)  # fmt: skip
    assert (lot.quantity, lot.cost_per_share) == (Decimal("3"), Decimal("101.123457"))
    assert lot.history.get().history_user == alice.user
    for quantity, cost, field in (
        (Decimal("0"), Decimal("1"), "quantity"),
        (Decimal("1"), Decimal("-1"), "cost_per_share"),
        (Decimal("1.0000000001"), Decimal("1"), "quantity"),  # 10 places: the column keeps 9
        (Decimal("1e20"), Decimal("1"), "quantity"),  # more digits than the column
    ):
        with pytest.raises(PortfoliosError) as refused:
            services.lot_open(account=funded, security=securities["AAPL"], quantity=quantity, cost_per_share=cost,
                              acquired_on=date(2025, 1, 2), acting_user=alice.user)  # fmt: skip
        assert field in (refused.value.errors or {refused.value.field: ""}), refused.value.errors
    assert TaxLot.objects.filter(account=funded, acquired_on=date(2025, 1, 2)).count() == 1


def test_a_valuation_snapshot_is_written_once_per_day(funded, securities):
    snapshot = services.valuation_snapshot_write(account=funded, date=date.today())
    # 10 AAPL x 150 + 100 BND x 70 = 8,500.00; cash 1,000.00; the transfer is today's external flow.
    assert (snapshot.market_value, snapshot.cash) == (Decimal("8500.00"), Decimal("9500.00") - Decimal("8500.00"))
    assert snapshot.net_external_flow == Decimal("9500.00")
    assert services.valuation_snapshots_write(as_of=date.today()) == 0
    assert funded.valuations.count() == 1


def test_a_past_valuation_uses_the_holdings_and_prices_of_that_day(funded, securities, alice):
    yesterday = date.today() - timedelta(days=1)
    services.valuation_snapshots_write(as_of=yesterday, account_ids=[funded.pk])
    # The transfer is effective today: yesterday the account held nothing.
    assert funded.valuations.get(date=yesterday).market_value == 0


def test_bulk_valuations_take_a_fixed_number_of_queries(funded, securities, alice_household, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add_accounts(start, count):
        for i in range(start, start + count):
            account = services.account_create(
                household=alice_household, name=f"A{i}", custodian_account_number=f"B-{i}", acting_user=alice.user
            )
            services.transfer_in(
                account=account,
                positions=[{"symbol": "VXUS", "quantity": Decimal(i + 1), "cost_basis": Decimal("50")}],
                acting_user=alice.user,
                idempotency_key=f"b-{i}",
                effective_date=date.today() - timedelta(days=5),
            )

    add_accounts(0, 2)
    services.valuation_snapshots_write(as_of=date.today() - timedelta(days=2))  # creates the system user
    with CaptureQueriesContext(connection) as few:
        assert services.valuation_snapshots_write(as_of=date.today() - timedelta(days=1)) == 3
    add_accounts(2, 30)
    with CaptureQueriesContext(connection) as many:
        assert services.valuation_snapshots_write(as_of=date.today()) == 33
    assert len(many) == len(few) <= 21  # 15 for the valuations, 6 refreshing the kept figures
