"""`python manage.py seed_scale --accounts 100000`: a large synthetic book for the batch benchmarks."""

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.scale import seed_scale
from portfolios.models import InvestmentAccount


class Command(BaseCommand):
    help = "Build a large synthetic book with COPY (PostgreSQL): households, accounts, holdings, lots, models, prices."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=100_000)
        parser.add_argument("--firm", default="Scale Advisory")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--force", action="store_true", help="Build even if the database has accounts.")

    def handle(self, *args: object, **options: object) -> None:
        accounts = int(options["accounts"])  # type: ignore[call-overload]
        if accounts <= 0:
            raise CommandError("--accounts must be positive.")
        if InvestmentAccount.objects.exists() and not options["force"]:
            raise CommandError(
                "The database already has accounts; this synthetic book is for a scratch database (--force)."
            )
        started = time.perf_counter()
        try:
            counts = seed_scale(accounts=accounts, firm_name=str(options["firm"]), seed=int(options["seed"]))  # type: ignore[call-overload]
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Built {counts} in {time.perf_counter() - started:.1f} s.")
