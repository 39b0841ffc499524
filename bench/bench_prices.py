"""The price import (`import_prices`): the full stock_prices.csv (20 symbols, 1989-2018, wide)
and a generated long-format file of 1,000,000 rows (200 symbols x 5,000 business days), each
loaded fresh, then re-imported unchanged."""

import tempfile
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.db import connection

from bench.harness import SHARED_DATA, per_second, timed
from portfolios.models import Price, Security

LONG_SYMBOLS = 200
LONG_DAYS = 5000


def write_long_file(path: Path, *, symbols: int = LONG_SYMBOLS, days: int = LONG_DAYS) -> int:
    """date,symbol,close rows: `symbols` x `days` weekdays from 1990-01-01, closes with 6 places."""
    day, dates = date(1990, 1, 1), list[str]()
    while len(dates) < days:
        if day.weekday() < 5:
            dates.append(day.isoformat())
        day += timedelta(days=1)
    with path.open("w") as f:
        f.write("date,symbol,close\n")
        for d, iso in enumerate(dates):
            f.writelines(f"{iso},BL{s:04d},{10 + (s * 7919 + d * 104729) % 100000 / 997:.6f}\n" for s in range(symbols))
    return symbols * days


def _load(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_prices", str(path), "--create-securities", *args, stdout=out)
    return out.getvalue().strip()


def run() -> list[tuple[str, str]]:
    figures = []
    wide = SHARED_DATA / "stock_prices.csv"
    _delete_prices()
    seconds, _ = timed(lambda: _load(wide))
    rows = Price.objects.count()
    again, report = timed(lambda: _load(wide))
    figures += [
        ("import_prices stock_prices.csv (wide), first load", per_second(rows, seconds)),
        ("  re-import of the same file (nothing changes)", per_second(rows, again)),
        ("  re-import report", report),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long_prices.csv"
        count = write_long_file(path)
        seconds, report = timed(lambda: _load(path, "--format", "long"))
        again, report_again = timed(lambda: _load(path, "--format", "long"))
    figures += [
        (f"import_prices {count:,} long rows ({LONG_SYMBOLS} symbols), first load", per_second(count, seconds)),
        ("  its report", report),
        ("  re-import of the same file (nothing changes)", per_second(count, again)),
        ("  re-import report", report_again),
    ]
    _delete_prices("BL")
    Security.objects.filter(symbol__startswith="BL").delete()
    return figures


def _delete_prices(prefix: str = "") -> None:
    """The scratch database's prices (of symbols starting with `prefix`), in one statement.

    Not `QuerySet.delete()`: a price's post_delete receiver (the account figures) makes Django
    fetch and delete the rows one at a time, which for the million long rows took longer than
    the whole benchmark. Account figures kept by other benchmarks in the scratch database are
    left as they were; nothing reads them afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM portfolios_price p USING portfolios_security s "
            "WHERE s.id = p.security_id AND s.symbol LIKE %s",
            [prefix + "%"],
        )
        # The dead rows out of the table and its indexes, as autovacuum would: the benchmarks
        # before this one (in the same scratch database) leave a book's prices behind, and the
        # first loads into their dead rows measured 2.17 s and 10.66 s against 1.66 s and 8.38 s.
        cursor.execute("VACUUM (ANALYZE) portfolios_price")
