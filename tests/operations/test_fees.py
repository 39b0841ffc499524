"""Fee arithmetic, by hand: actual/actual, marginal tiers, average daily balance, half-even cents."""

from datetime import date
from decimal import Decimal

from operations.engine import fees
from operations.engine.fees import Tier

FLAT_100 = [Tier(up_to=None, bps=Decimal(100))]
TIERED = [Tier(Decimal(1_000_000), Decimal(100)), Tier(Decimal(5_000_000), Decimal(75)), Tier(None, Decimal(50))]


def test_a_flat_rate_for_a_full_quarter_is_annual_fee_times_days_over_365():
    # 1,000,000 x 1.00% = 10,000 a year; Q1 2025 has 90 days: 10,000 x 90 / 365 = 2,465.7534... -> 2,465.75
    calc = fees.quarterly_fee(
        tiers=FLAT_100,
        basis=Decimal(1_000_000),
        period_start=date(2025, 1, 1),
        period_end=date(2025, 3, 31),
        days_billed=90,
    )
    assert calc.annual_fee == Decimal(10000)
    assert calc.days_in_year == 365
    assert calc.amount == Decimal("2465.75")


def test_marginal_tiers_charge_each_slice_at_its_own_rate():
    # 6,000,000: 1M at 1.00% = 10,000 + 4M at 0.75% = 30,000 + 1M at 0.50% = 5,000 -> 45,000 a year
    annual, slices = fees.annual_fee(Decimal(6_000_000), tiers=TIERED)
    assert annual == Decimal(45000)
    assert [s["annual_fee"] for s in slices] == ["10000", "30000", "5000"]
    # Q2 2024 (leap year): 91 days / 366: 45,000 x 91 / 366 = 11,188.5245... -> 11,188.52
    calc = fees.quarterly_fee(
        tiers=TIERED,
        basis=Decimal(6_000_000),
        period_start=date(2024, 4, 1),
        period_end=date(2024, 6, 30),
        days_billed=91,
    )
    assert calc.amount == Decimal("11188.52")
    assert calc.effective_bps == Decimal("75.000000")


def test_a_basis_inside_the_first_tier_pays_only_its_rate():
    annual, _ = fees.annual_fee(Decimal(250_000), tiers=TIERED)
    assert annual == Decimal(2500)


def test_billed_days_count_the_opening_and_closing_days():
    assert fees.billed_days(date(2025, 1, 1), date(2025, 3, 31), date(2025, 2, 15), None)[2] == 45
    assert fees.billed_days(date(2025, 1, 1), date(2025, 3, 31), date(2020, 1, 1), date(2025, 1, 31))[2] == 31
    assert fees.billed_days(date(2025, 1, 1), date(2025, 3, 31), date(2025, 4, 2), None)[2] == 0


def test_average_daily_balance_carries_the_last_value_over_days_without_one():
    # 1,000,000 for Jan 1..Feb 14 (45 days), 1,300,000 from Feb 15 (45 days): average 1,150,000
    values = {date(2025, 1, 1): Decimal(1_000_000), date(2025, 2, 15): Decimal(1_300_000)}
    assert fees.average_daily_balance(values, date(2025, 1, 1), date(2025, 3, 31)) == Decimal(1_150_000)


def test_the_fee_is_rounded_half_even_to_cents():
    # 73 days of 365 = 0.2 exactly: an annual fee of 61.725 gives 12.345 -> 12.34 (even), 61.775 -> 12.355 -> 12.36
    assert fees.round_fee(Decimal("61.725") * 73 / 365) == Decimal("12.34")
    assert fees.round_fee(Decimal("61.775") * 73 / 365) == Decimal("12.36")


def test_quarters():
    assert fees.quarter_of(date(2025, 5, 17)) == (date(2025, 4, 1), date(2025, 6, 30))
    assert fees.previous_quarter(date(2025, 1, 1)) == (date(2024, 10, 1), date(2024, 12, 31))
