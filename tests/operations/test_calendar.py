from datetime import date

from operations.engine.calendar import is_trading_day, non_trading_reason, previous_trading_day


def test_weekends_and_market_holidays_are_not_trading_days():
    assert non_trading_reason(date(2025, 3, 15)) == "Saturday"
    assert non_trading_reason(date(2025, 12, 25)) == "Christmas Day"
    assert non_trading_reason(date(2025, 4, 18)) == "Good Friday"
    assert non_trading_reason(date(2025, 11, 27)) == "Thanksgiving Day"
    assert non_trading_reason(date(2025, 7, 4)) == "Independence Day"
    assert non_trading_reason(date(2026, 7, 3)) == "Independence Day"  # the 4th is a Saturday
    assert non_trading_reason(date(2025, 6, 19)) == "Juneteenth"
    assert non_trading_reason(date(2025, 1, 20)) == "Martin Luther King Jr. Day"
    assert is_trading_day(date(2025, 3, 14))


def test_previous_trading_day_skips_weekends_and_holidays():
    assert previous_trading_day(date(2025, 12, 26)) == date(2025, 12, 24)
    assert previous_trading_day(date(2025, 3, 17)) == date(2025, 3, 14)
