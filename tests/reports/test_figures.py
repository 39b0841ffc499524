"""A statement's figures against the hand computation of tests/reports/conftest.py."""

from datetime import timedelta
from decimal import Decimal

import pytest

from reports.selectors import household_report, statement_figures

pytestmark = pytest.mark.django_db


def test_the_quarters_summary_is_the_hand_computed_one(statement_account, quarter):
    f = statement_figures(statement_account, period_end=quarter.end)
    assert (f.period_start, f.period_end) == (quarter.start, quarter.end)
    assert f.opening_value == Decimal("3499.00")  # the deposit on the day before the quarter is in it
    assert f.deposits == Decimal("1000.01")  # the first and the last day count; the day after does not
    assert f.withdrawals == Decimal("200.00")
    assert f.dividends == Decimal("12.34")
    assert f.fees == Decimal("7.89")
    assert f.realised_gains == Decimal("30.00")
    assert f.closing_value == Decimal("4433.46")
    assert f.change_in_value == Decimal("130.00")
    assert f.opening_value + f.deposits - f.withdrawals + f.dividends - f.fees + f.change_in_value == f.closing_value


def test_holdings_carry_their_cost_basis_at_the_period_end(statement_account, quarter):
    f = statement_figures(statement_account, period_end=quarter.end)
    rows = {h.symbol: (h.quantity, h.market_value, h.cost_basis) for h in f.holdings}
    assert rows == {
        "AAA": (Decimal("8"), Decimal("880.00"), Decimal("720.00")),
        "BBB": (Decimal("20"), Decimal("1040.00"), Decimal("1000.00")),
    }
    assert f.closing_cash == Decimal("2513.46")


def test_a_statement_to_the_day_before_the_sale_holds_the_lot_whole(statement_account, quarter):
    """Cost basis as of an earlier date: the 2 shares closed later are still open then."""
    f = statement_figures(statement_account, period_end=quarter.start + timedelta(days=49))
    aaa = next(h for h in f.holdings if h.symbol == "AAA")
    assert (aaa.quantity, aaa.cost_basis) == (Decimal("10"), Decimal("900.00"))
    assert f.realised_gains == Decimal("0.00")


def test_transactions_are_the_quarters_entries_oldest_first(statement_account, quarter):
    f = statement_figures(statement_account, period_end=quarter.end)
    day = quarter.start
    assert [(t.date, t.kind, t.amount) for t in f.transactions] == [
        (day, "deposit", Decimal("1000.00")),
        (day + timedelta(days=20), "withdrawal", Decimal("-200.00")),
        (day + timedelta(days=30), "dividend", Decimal("12.34")),
        (day + timedelta(days=40), "fee", Decimal("-7.89")),
        (day + timedelta(days=50), "trade", Decimal("210.00")),
        (quarter.end, "deposit", Decimal("0.01")),
    ]
    sale = f.transactions[4]
    assert (sale.symbol, sale.quantity) == ("AAA", Decimal("-2"))


def test_the_household_report_sums_its_accounts_and_allocates_by_asset_class(statement_account, quarter):
    r = household_report(statement_account.household, period_end=quarter.end)
    assert (r.opening_value, r.closing_value, r.deposits, r.withdrawals) == (
        Decimal("3499.00"),
        Decimal("4433.46"),
        Decimal("1000.01"),
        Decimal("200.00"),
    )
    allocation = {s.label: (s.value, s.weight) for s in r.allocation}
    assert allocation["Cash"] == (Decimal("2513.46"), Decimal("2513.46") / Decimal("4433.46"))
    assert allocation["US equity"][0] == Decimal("880.00")
    assert allocation["Bonds"][0] == Decimal("1040.00")
    assert sum(w for _, w in allocation.values()) == pytest.approx(1)
