"""The simulation's market: real daily closes from the shared price history, and its calendar.

The history (`stock_prices.csv`, 20 US equities, and `spy_prices.csv`) is split- and
dividend-adjusted. A run picks a window of trading days anywhere in it (the days the file has
and Kronos's calendar calls trading days) and the symbols with a close on each of them.

Corporate actions: the adjusted series hide the splits and dividends that really happened (a
split multiplies the closes before it by 1 / ratio, a dividend by 1 - dividend / close before
the ex-date: the series is a total return), so the simulation draws its own (`corporate_actions`:
quarterly cash dividends, 2:1 and 3:1 splits, 1:4 reverse splits) and serves prices *unadjusted*
around them (`close`): before a split's ex-date at ratio times the adjusted close, before a
dividend's higher by the dividend, so the price drops by the dividend on the ex-date as a traded
price does and a holder's return is the history's (price plus dividend), not the dividend twice.
"""

from __future__ import annotations

import csv
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from django.conf import settings

from operations.engine.calendar import is_trading_day, non_trading_reason

PRICE_PLACES = Decimal("0.000001")
FILES = ("stock_prices.csv", "spy_prices.csv")


def data_dir() -> Path:
    """Where the shared price history is: settings.SHARED_DATA_DIR (KRONOS_SHARED_DATA, or
    ../shared/data beside the project), as the tests find it."""
    return Path(settings.SHARED_DATA_DIR)


@dataclass(frozen=True)
class CorporateAction:
    """A split (`split_to` new shares for `split_from` old: 2:1, 3:1, or 1:4 for a reverse split)
    or a cash dividend (`amount` a share), announced on `declared`.

    `factor` is what the history's adjusted closes before the ex-date are multiplied by to give
    the prices that traded then: the ratio for a split; for a dividend of D paid from a close of
    P on the day before the ex-date, (P + D) / P -- the history's dividend adjustment undone (it
    multiplied the closes before the ex-date by 1 - D / (P + D))."""

    symbol: str
    kind: str  # "split" | "dividend"
    ex_date: date
    pay_date: date
    amount: Decimal = Decimal(0)
    split_to: int = 1
    split_from: int = 1
    record_date: date | None = None
    declared: date | None = None
    factor: Decimal = Decimal(1)

    @property
    def ratio(self) -> Decimal:
        return Decimal(self.split_to) / Decimal(self.split_from)

    @property
    def is_dividend(self) -> bool:
        return self.kind == "dividend"

    @property
    def is_reverse(self) -> bool:
        return self.kind == "split" and self.split_to < self.split_from

    @property
    def id(self) -> str:
        return f"sim-{'div' if self.is_dividend else 'split'}-{self.symbol}-{self.ex_date.isoformat()}"


@dataclass
class Market:
    closes: dict[str, dict[date, Decimal]]
    days: list[date]  # every date of the history, sorted
    actions: list[CorporateAction] = field(default_factory=list)
    # symbol -> (ex-dates ascending, product of the factors of the actions from each one on)
    _index: dict[str, tuple[list[date], list[Decimal]]] = field(default_factory=dict, init=False, repr=False)
    _indexed: list[CorporateAction] | None = field(default=None, init=False, repr=False)

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
        """The close Kronos is served: the history's, unadjusted for the simulation's own events
        (6 places, ROUND_HALF_EVEN, as Kronos stores prices)."""
        factor = self.adjustment(symbol, day)
        adjusted = self.closes[symbol][day]
        return adjusted if factor == 1 else (adjusted * factor).quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN)

    def adjustment(self, symbol: str, day: date) -> Decimal:
        """Factor from the history's adjusted close to the price traded on `day`: the product of
        the `factor`s of the symbol's actions with an ex-date after `day` (for a split of `ratio`
        the shares before its ex-date traded at `ratio` times the adjusted price)."""
        if self._indexed is not self.actions:
            self._reindex()
        found = self._index.get(symbol)
        if found is None:
            return Decimal(1)
        exes, products = found
        return products[bisect_right(exes, day)]

    def _reindex(self) -> None:
        by_symbol: dict[str, list[CorporateAction]] = {}
        for action in sorted(self.actions, key=lambda a: a.ex_date):
            by_symbol.setdefault(action.symbol, []).append(action)
        self._index = {}
        for symbol, actions in by_symbol.items():
            products = [Decimal(1)]
            for action in reversed(actions):
                products.append(products[-1] * action.factor)
            products.reverse()
            self._index[symbol] = ([a.ex_date for a in actions], products)
        self._indexed = self.actions

    def series(self, symbol: str, start: date | None, end: date | None) -> list[tuple[date, Decimal]]:
        """The market-data sandbox's view: closes in [start, end]."""
        rows = self.closes.get(symbol.upper(), {})
        return [
            (d, self.close(symbol.upper(), d))
            for d in sorted(rows)
            if (start is None or d >= start) and (end is None or d <= end)
        ]


#: Kinds a run can be told to include (`Config.force_actions`, `simulate_firm --force-actions`).
FORCIBLE = ("dividend", "split", "reverse_split")
QUARTER = 63  # trading days between a payer's dividends
PAYERS = 0.8  # share of the stocks that pay quarterly dividends (SPY always does)
SPLITS_A_YEAR = 0.15  # per stock: forward splits (2:1 or 3:1) ...
REVERSE_SPLITS_A_YEAR = 0.05  # ... and reverse splits (1:4)
LONG_RUN = 120  # trading days from which a run has at least one split and one reverse split
SPACING = 5  # trading days kept between two events of one symbol
AMOUNT_PLACES = Decimal("0.0001")


def _next_trading_day(day: date, *, after: int = 0) -> date:
    """The first trading day on or after `day`, moved on by `after` more trading days."""
    while not is_trading_day(day):
        day += timedelta(days=1)
    for _ in range(after):
        day += timedelta(days=1)
        while not is_trading_day(day):
            day += timedelta(days=1)
    return day


def corporate_actions(
    market: Market,
    symbols: list[str],
    days: list[date],
    rng: random.Random,
    *,
    force: Sequence[str] = (),
    held: Sequence[str] = (),
) -> list[CorporateAction]:
    """The simulation's own dividends and splits with an ex-date on one of `days` (never the
    first: holders are the accounts at the close before the ex-date), seeded by `rng`.

    - Quarterly cash dividends for most symbols (every `QUARTER` trading days from a seeded
      phase), 0.3% to 1% of the close before the ex-date a quarter (to 4 places); declared two
      to four weeks before the ex-date, the record date the next trading day, paid two to five
      weeks after it (perhaps after the run).
    - Splits, 2:1 or 3:1, and reverse splits, 1:4, at `SPLITS_A_YEAR` and `REVERSE_SPLITS_A_YEAR`
      a stock (SPY never); a run of `LONG_RUN` days or more has at least one of each. Announced
      three to six weeks ahead. Their cash in lieu is paid at the ex-date close (Kronos's default).
    - `force`: one more event of each kind named ("dividend", "split", "reverse_split"), on days
      spread over the run, for `held` symbols if given (the models' holdings), so even a run of a
      few days has them; a forced dividend is paid within the run when it can be.

    Two events of one symbol are at least `SPACING` trading days apart. The amounts and the
    `factor`s are worked out from the last ex-date back: each dividend is a share of the close
    unadjusted for the events after it."""
    unknown = sorted(set(force) - set(FORCIBLE))
    if unknown:
        raise ValueError(f"Unknown corporate actions to force: {', '.join(unknown)} (known: {', '.join(FORCIBLE)}).")
    years = len(days) / 252
    # (symbol, kind, index of the ex-date in days, terms)
    planned: list[tuple[str, str, int, dict[str, Any]]] = []

    def free(symbol: str, index: int) -> bool:
        return all(s != symbol or abs(i - index) >= SPACING for s, _, i, _ in planned)

    last = len(days) - 1
    forced = [k for k in FORCIBLE if k in force]
    pool = [s for s in (held or symbols) if s in symbols and s != "SPY"] or [s for s in symbols if s != "SPY"]
    picks = rng.sample(pool, min(len(pool), len(forced))) if last >= 1 else []
    for n, (kind, symbol) in enumerate(zip(forced, picks, strict=False)):
        index = 1 + (n + 1) * (last - 1) // (len(forced) + 1) if last > 1 else 1
        if kind == "dividend":
            pay = days[index + 2] if index + 2 <= last else _next_trading_day(days[index], after=2)
            planned.append((symbol, "dividend", index, {"pay": pay, "yield": Decimal("0.008")}))
        else:
            to, frm = (1, 4) if kind == "reverse_split" else rng.choice([(2, 1), (3, 1)])
            planned.append((symbol, "split", index, {"to": to, "from": frm}))
    if last >= 1:
        stocks = [s for s in symbols if s != "SPY"]
        for kind, rate, least in (("split", SPLITS_A_YEAR, 1), ("reverse_split", REVERSE_SPLITS_A_YEAR, 1)):
            count = sum(1 for _ in stocks if rng.random() < rate * years)
            if len(days) >= LONG_RUN:
                count = max(count, least)
            for _ in range(count):
                for _ in range(10):  # a symbol and day clear of its other events
                    symbol, index = rng.choice(stocks), rng.randint(1, last)
                    if free(symbol, index):
                        break
                else:
                    continue
                to, frm = (1, 4) if kind == "reverse_split" else rng.choice([(2, 1), (2, 1), (3, 1)])
                planned.append((symbol, "split", index, {"to": to, "from": frm}))
        for symbol in symbols:
            if symbol != "SPY" and rng.random() >= PAYERS:
                continue
            for index in range(1 + rng.randrange(QUARTER), last + 1, QUARTER):
                terms: dict[str, Any] = {
                    "yield": Decimal(str(round(rng.uniform(0.003, 0.01), 4))),
                    "weeks": rng.randint(2, 5),
                }
                if free(symbol, index):
                    planned.append((symbol, "dividend", index, terms))
    actions: list[CorporateAction] = []
    later: dict[str, Decimal] = {}  # symbol -> product of the factors of its later events
    for symbol, kind, index, terms in sorted(planned, key=lambda p: (p[2], p[0], p[1]), reverse=True):
        ex = days[index]
        after = later.get(symbol, Decimal(1))
        if kind == "split":
            to, frm = terms["to"], terms["from"]
            action = CorporateAction(
                symbol=symbol,
                kind="split",
                ex_date=ex,
                pay_date=ex,
                split_to=to,
                split_from=frm,
                declared=ex - timedelta(days=rng.randint(21, 42)),
                factor=Decimal(to) / Decimal(frm),
            )
        else:
            before = market.closes[symbol][days[index - 1]] * after  # the close before, as it traded
            amount = (before * terms["yield"]).quantize(AMOUNT_PLACES, rounding=ROUND_HALF_EVEN)
            if amount <= 0:
                continue
            pay = terms.get("pay") or _next_trading_day(ex + timedelta(weeks=terms["weeks"]))
            action = CorporateAction(
                symbol=symbol,
                kind="dividend",
                ex_date=ex,
                pay_date=pay,
                amount=amount,
                record_date=_next_trading_day(ex, after=1),
                declared=ex - timedelta(days=rng.randint(14, 28)),
                factor=(before + amount) / before,
            )
        later[symbol] = after * action.factor
        actions.append(action)
    return sorted(actions, key=lambda a: (a.ex_date, a.symbol, a.kind))
