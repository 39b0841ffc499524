"""Import daily closes from a CSV file, all or nothing.

    python manage.py import_prices FILE [--format wide|long] [--create-securities] [--source NAME]

wide: a `date` column, then one column per symbol (an empty cell is no price that day);
long: `date,symbol,close` rows. The whole file is validated first; a bad row stops the
import with its line number and nothing is loaded. Closes are rounded to 6 places
(ROUND_HALF_EVEN). A day's close is replaced only when it differs, so importing the same
file twice changes nothing.
"""

import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from portfolios import services
from portfolios.errors import PortfoliosError


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


def read_prices(path: Path, *, fmt: str) -> list[tuple[str, Any, Any]]:
    """Every (symbol, date, close) of the file, validated; PortfoliosError names the first bad line."""
    today = timezone.localdate()
    rows: list[tuple[str, Any, Any]] = []
    seen: set[tuple[str, Any]] = set()
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise PortfoliosError("the file is empty.")
        header = [h.strip() for h in header]
        if fmt == "wide":
            if header[0].lower() != "date" or len(header) < 2:
                raise PortfoliosError("line 1: a wide file starts with a 'date' column, then one column per symbol.")
            symbols = [h.upper() for h in header[1:]]
            if any(not s for s in symbols):
                raise PortfoliosError("line 1: a symbol column has no name.")
            cells = lambda line: [(s, line[0], v) for s, v in zip(symbols, line[1:], strict=False) if v.strip()]  # noqa: E731
            width = len(header)
        else:
            if [h.lower() for h in header[:3]] != ["date", "symbol", "close"]:
                raise PortfoliosError("line 1: a long file has the columns date,symbol,close.")
            cells = lambda line: [(line[1], line[0], line[2])]  # noqa: E731
            width = 3
        for number, line in enumerate(reader, start=2):
            if not line or not any(c.strip() for c in line):
                continue
            if len(line) != width:
                raise PortfoliosError(f"line {number}: expected {width} columns, found {len(line)}.")
            for symbol, day, close in cells(line):
                try:
                    clean = services.price_validate(symbol=symbol, day=day, close=close, today=today)
                except PortfoliosError as exc:
                    raise PortfoliosError(f"line {number}: {exc.message[0].lower()}{exc.message[1:]}") from exc
                if clean[:2] in seen:
                    raise PortfoliosError(f"line {number}: a second close for {clean[0]} on {clean[1]}.")
                seen.add(clean[:2])
                rows.append(clean)
    return rows
