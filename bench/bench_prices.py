"""Import of the full stock_prices.csv (20 symbols, 1989-2018) through `import_prices`: rows per second."""

from io import StringIO

from django.core.management import call_command

from bench.harness import SHARED_DATA, per_second, timed
from portfolios.models import Price


def run() -> list[tuple[str, str]]:
    path = SHARED_DATA / "stock_prices.csv"
    Price.objects.all().delete()

    def load() -> str:
        out = StringIO()
        call_command("import_prices", str(path), "--create-securities", stdout=out)
        return out.getvalue()

    seconds, _ = timed(load)
    rows = Price.objects.count()
    again, report = timed(load)
    return [
        ("import_prices stock_prices.csv, first load (validate + COPY + upsert)", per_second(rows, seconds)),
        ("re-import of the same file (nothing changes)", per_second(rows, again)),
        ("re-import report", report.strip()),
    ]
