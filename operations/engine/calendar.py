"""The business calendar: US market trading days (weekends and the NYSE full-day holidays).

Holidays are computed by rule (observed on the nearest weekday; New Year's Day falling on a
Saturday is not observed on the Friday before, as on NYSE), so no yearly list to maintain.
Pure: no Django.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    lz = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * lz) // 451
    month, day = divmod(h + lz - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def us_market_holidays(year: int) -> dict[date, str]:
    holidays = {
        _nth_weekday(year, 1, 0, 3): "Martin Luther King Jr. Day",
        _nth_weekday(year, 2, 0, 3): "Washington's Birthday",
        _easter(year) - timedelta(days=2): "Good Friday",
        _last_weekday(year, 5, 0): "Memorial Day",
        _observed(date(year, 7, 4)): "Independence Day",
        _nth_weekday(year, 9, 0, 1): "Labor Day",
        _nth_weekday(year, 11, 3, 4): "Thanksgiving Day",
        _observed(date(year, 12, 25)): "Christmas Day",
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:  # a Saturday New Year is not observed on Friday Dec 31
        holidays[_observed(new_year)] = "New Year's Day"
    if year >= 2022:
        holidays[_observed(date(year, 6, 19))] = "Juneteenth"
    return holidays


def non_trading_reason(day: date) -> str | None:
    """Why `day` is not a trading day ("Saturday", "Christmas Day"), or None if it is one."""
    if day.weekday() >= 5:
        return day.strftime("%A")
    return us_market_holidays(day.year).get(day)


def is_trading_day(day: date) -> bool:
    return non_trading_reason(day) is None


def previous_trading_day(day: date) -> date:
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def last_trading_day_on_or_before(day: date) -> date:
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day
