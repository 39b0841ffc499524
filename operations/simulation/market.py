"""The simulation's market: real daily closes from the shared price history, and its calendar.

The history (`stock_prices.csv`, 20 US equities, and `spy_prices.csv`) is split- and
dividend-adjusted. A run picks a window of trading days anywhere in it (the days the file has
and Kronos's calendar calls trading days) and the symbols with a close on each of them.

Corporate actions: the adjusted series hide the splits and dividends that really happened, so
the simulation is to make its own (`corporate_actions`) and serve prices *unadjusted* around
them (`close`). No events are drawn yet, so the adjusted closes are served as they are.
"""

from __future__ import annotations

import csv
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

PRICE_PLACES = Decimal("0.000001")
FILES = ("stock_prices.csv", "spy_prices.csv")


def data_dir() -> Path:
    """Where the shared price history is: settings.SHARED_DATA_DIR (KRONOS_SHARED_DATA, or
    ../shared/data beside the project), as the tests find it."""
    from django.conf import settings

    return Path(settings.SHARED_DATA_DIR)


@dataclass(frozen=True)
class CorporateAction:
    """A split (`ratio` new shares per old share) or a cash dividend (`amount` a share)."""

    symbol: str
    kind: str  # "split" | "dividend"
    ex_date: date
    pay_date: date
    ratio: Decimal = Decimal(1)
    amount: Decimal = Decimal(0)


@dataclass
class Market:
    closes: dict[str, dict[date, Decimal]]
    days: list[date]  # every date of the history, sorted
    actions: list[CorporateAction] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path | None = None) -> Market:
        directory = directory or data_dir()
        closes: dict[str, dict[date, Decimal]] = {}
        for name in FILES:
            path = directory / name
            if not path.exists():
                raise FileNotFoundError(f"No price history at {path} (set KRONOS_SHARED_DATA).")
            with path.open(newline="") as f:
                reader = csv.reader(f)
                symbols = [h.strip().upper() for h in next(reader)[1:]]
                for line in reader:
                    day = date.fromisoformat(line[0])
                    for symbol, raw in zip(symbols, line[1:], strict=False):
                        if raw.strip():
                            closes.setdefault(symbol, {})[day] = Decimal(raw.strip()).quantize(PRICE_PLACES)
        days = sorted({d for series in closes.values() for d in series})
        return cls(closes=closes, days=days)

    def trading_days(self) -> list[date]:
        from operations.calendar import non_trading_reason

        return [d for d in self.days if not non_trading_reason(d)]

    def window(self, count: int, *, start: date | None, rng: random.Random) -> list[date]:
        """`count` trading days from `start` (the first trading day on or after it), or from a
        seeded random place that leaves room for them and a day before."""
        days = self.trading_days()
        if count < 1 or count + 1 > len(days):
            raise ValueError(f"The history has {len(days)} trading days; {count} were asked for.")
        if start is None:
            first = rng.randrange(1, len(days) - count + 1)
        else:
            first = max(1, bisect_left(days, start))
            if first + count > len(days):
                raise ValueError(f"Not enough history after {start.isoformat()}: it ends on {days[-1].isoformat()}.")
        return days[first : first + count]

    def previous_day(self, day: date) -> date:
        i = bisect_left(self.days, day)
        return self.days[i - 1]

    def symbols_covering(self, days: list[date]) -> list[str]:
        """Symbols with a close on each of `days` and on the day before the first."""
        wanted = [self.previous_day(days[0]), *days]
        return sorted(s for s, series in self.closes.items() if all(d in series for d in wanted))

    def close(self, symbol: str, day: date) -> Decimal:
        """The close Kronos is served: the history's, unadjusted for the simulation's own events."""
        return self.closes[symbol][day] * self.adjustment(symbol, day)

    def adjustment(self, symbol: str, day: date) -> Decimal:
        """Factor from the history's adjusted close to the price traded on `day`: for a split of
        `ratio` the shares before its ex-date traded at `ratio` times the adjusted price."""
        factor = Decimal(1)
        for action in self.actions:
            if action.symbol == symbol and action.kind == "split" and day < action.ex_date:
                factor *= action.ratio
        return factor

    def series(self, symbol: str, start: date | None, end: date | None) -> list[tuple[date, Decimal]]:
        """The market-data sandbox's view: closes in [start, end]."""
        rows = self.closes.get(symbol.upper(), {})
        return [
            (d, self.close(symbol.upper(), d))
            for d in sorted(rows)
            if (start is None or d >= start) and (end is None or d <= end)
        ]


def corporate_actions(
    market: Market, symbols: list[str], days: list[date], rng: random.Random
) -> list[CorporateAction]:
    """The simulation's own splits and dividends over `days`.

    None yet. Kronos now reads corporate actions from its market-data adapter (the nightly's
    `corporate_actions` stage, served here by the sandbox's feed, `Simulation.corporate_actions`)
    and the sandbox custodian processes them from its books; drawing events here (a 2:1 or 3:1
    split, a 1:4 reverse split, quarterly cash dividends) and registering them with both is what is
    left. `Market.close` already unadjusts split prices for the events in `Market.actions`.
    """
    return []
