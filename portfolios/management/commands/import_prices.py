"""Import daily closes from a CSV file, all or nothing.

    python manage.py import_prices FILE [--format wide|long] [--create-securities] [--source NAME]

wide: a `date` column, then one column per symbol (an empty cell is no price that day);
long: `date,symbol,close` rows. The whole file is validated first; a bad row stops the
import with its line number and nothing is loaded. Closes are rounded to 6 places
(ROUND_HALF_EVEN). A day's close is replaced only when it differs, so importing the same
file twice changes nothing.
"""

import csv
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from portfolios import services
from portfolios.errors import PortfoliosError
from portfolios.services.common import PRICE_QUANTUM


class Command(BaseCommand):
    help = "Import daily closes from a CSV file (wide: date + one column per symbol; long: date,symbol,close)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file")
        parser.add_argument("--format", choices=["wide", "long"], default="wide")
        parser.add_argument("--create-securities", action="store_true", help="Create unknown symbols.")
        parser.add_argument("--source", default="", help="Recorded on each price (default: the file name).")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            rows = read_prices(path, fmt=options["format"])
            with transaction.atomic():
                ids = services.security_ids_for(
                    symbols={symbol for symbol, _, _ in rows}, create=options["create_securities"]
                )
                result = services.prices_upsert(
                    [(ids[symbol], day, close) for symbol, day, close in rows], source=options["source"] or path.name
                )
        except PortfoliosError as exc:
            raise CommandError(f"{path.name}: {exc.message} Nothing was loaded.") from exc
        self.stdout.write(
            f"Read {result.rows} prices: {result.inserted} new, {result.changed} changed, {result.unchanged} unchanged."
        )


def read_prices(path: Path, *, fmt: str) -> list[tuple[str, date, Decimal]]:
    """Every (symbol, date, close) of the file, validated; PortfoliosError names the first bad line.

    Streamed through the csv module's C reader with each distinct date and symbol validated once
    (a million rows carry a few thousand dates and a few hundred symbols); each close is parsed
    here, by the same rules as `services.price_validate` (which also words the errors)."""
    today = timezone.localdate()
    rows: list[tuple[str, date, Decimal]] = []
    seen: set[int] = set()  # date ordinal << 20 | symbol number: one int per (symbol, day)
    days: dict[str, date] = {}
    symbols: dict[str, tuple[str, int]] = {}  # as written -> (symbol, its number)
    numbers: dict[str, int] = {}
    quantum = PRICE_QUANTUM

    def day_of(text: str, number: int, symbol: str) -> date:
        day = days.get(text)
        if day is None:
            day = days[text] = _checked(number, symbol=symbol, day=text, close="1", today=today)[1]
        return day

    def symbol_of(text: str, number: int) -> tuple[str, int]:
        known = symbols.get(text)
        if known is None:
            name = _checked(number, symbol=text, day=today, close="1", today=today)[0]
            known = symbols[text] = (name, numbers.setdefault(name, len(numbers)))
        return known

    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise PortfoliosError("the file is empty.")
        header = [h.strip() for h in header]
        if fmt == "wide":
            if header[0].lower() != "date" or len(header) < 2:
                raise PortfoliosError("line 1: a wide file starts with a 'date' column, then one column per symbol.")
            if any(not h for h in header[1:]):
                raise PortfoliosError("line 1: a symbol column has no name.")
            columns = [symbol_of(h, 1) for h in header[1:]]
            width = len(header)
        else:
            if [h.lower() for h in header[:3]] != ["date", "symbol", "close"]:
                raise PortfoliosError("line 1: a long file has the columns date,symbol,close.")
            width = 3
        for number, line in enumerate(reader, start=2):
            if len(line) != width:
                if not any(c.strip() for c in line):
                    continue
                raise PortfoliosError(f"line {number}: expected {width} columns, found {len(line)}.")
            if fmt == "wide":
                cells = [(c, v) for c, v in zip(columns, line[1:], strict=True) if v and not v.isspace()]
                if not cells:
                    continue
            else:
                known = symbols.get(line[1])  # the common case: a symbol seen before, so not blank
                if known is None:
                    if not any(c.strip() for c in line):
                        continue
                    known = symbol_of(line[1], number)
                cells = [(known, line[2])]
            day = days.get(line[0]) or day_of(line[0], number, cells[0][0][0])
            ordinal = day.toordinal() << 20
            for (symbol, index), text in cells:
                try:
                    close = Decimal(text)
                except (InvalidOperation, ValueError):
                    close = _checked(number, symbol=symbol, day=day, close=text, today=today)[2]
                if not close.is_finite() or close <= 0:
                    _checked(number, symbol=symbol, day=day, close=text, today=today)
                key = ordinal | index
                if key in seen:
                    raise PortfoliosError(f"line {number}: a second close for {symbol} on {day}.")
                seen.add(key)
                rows.append((symbol, day, close.quantize(quantum, rounding=ROUND_HALF_EVEN)))
    return rows


def _checked(number: int, **price: Any) -> tuple[str, date, Decimal]:
    """`services.price_validate`, its refusal prefixed with the line number."""
    try:
        return services.price_validate(**price)
    except PortfoliosError as exc:
        raise PortfoliosError(f"line {number}: {exc.message[0].lower()}{exc.message[1:]}") from exc
