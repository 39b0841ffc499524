"""Run a simulated firm through business days of real price history and check its invariants.

    python manage.py simulate_firm --accounts 100 --days 60 --seed 1 [--faults] [--start 2016-02-01] [--csv out.csv]

Needs PostgreSQL (and Redis for the worker killed with --faults) and a database without
accounts: the nightly job runs for the whole database (`make simulate` makes a scratch one).
Prints each violation as it is found and a summary; exits non-zero if any invariant was broken.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from sandboxes.simulation.runner import Config, Simulation


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--start must be YYYY-MM-DD, not {value!r}.") from None


class Command(BaseCommand):
    help = "Simulate a firm's business days end to end (services, tasks, sandboxes) and check its invariants."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=100)
        parser.add_argument("--days", type=int, default=60, help="business days")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--faults", action="store_true", help="a faulty custodian and a worker killed mid-scan")
        parser.add_argument("--start", type=str, default="", help="first day (YYYY-MM-DD); default: seeded")
        parser.add_argument("--csv", type=str, default="", help="write the firm's daily totals here")
        parser.add_argument("--no-kill", action="store_true", help="with --faults, run every night eagerly")
        parser.add_argument("--verbose", action="store_true", help="keep the services' log lines")
        parser.add_argument(
            "--group-share",
            type=int,
            default=4,
            help="every n-th opening household also holds an IRA, the two in a rebalancing group (0: none)",
        )
        parser.add_argument("--no-harvesting", action="store_true", help="no tax-loss harvesting")
        parser.add_argument(
            "--fractional-share",
            type=int,
            default=0,
            help="every n-th account takes fractional shares (0: none, the default)",
        )
        parser.add_argument(
            "--force-actions",
            type=str,
            default="",
            help="corporate actions the run must have, comma-separated: dividend, split, reverse_split",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["accounts"] < 1 or options["days"] < 1:
            raise CommandError("--accounts and --days must be at least 1.")
        if options["group_share"] < 0:
            raise CommandError("--group-share must be 0 (no groups) or more.")
        if options["fractional_share"] < 0:
            raise CommandError("--fractional-share must be 0 (none) or more.")
        if connection.vendor != "postgresql":
            raise CommandError("simulate_firm runs on PostgreSQL (set DATABASE_URL).")
        config = Config(
            accounts=options["accounts"],
            days=options["days"],
            seed=options["seed"],
            faults=options["faults"],
            start=_day(options["start"]) if options["start"] else None,
            csv_path=Path(options["csv"]) if options["csv"] else None,
            kill_worker=False if options["no_kill"] else None,
            verbose=options["verbose"],
            group_share=options["group_share"],
            fractional_share=options["fractional_share"],
            harvesting=not options["no_harvesting"],
            force_actions=tuple(k.strip() for k in (options["force_actions"] or "").split(",") if k.strip()),
            out=lambda line: self.stdout.write(line),
        )
        try:
            simulation = Simulation(config)
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        first, last = simulation.days[0], simulation.days[-1]
        self.stdout.write(
            f"simulating {config.accounts} accounts over {config.days} business days, "
            f"{first.isoformat()} to {last.isoformat()}, seed {config.seed}{', with faults' if config.faults else ''}; "
            f"{len(simulation.symbols)} securities"
        )
        try:
            summary = simulation.run()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        for line in summary.lines():
            self.stdout.write(line)
        if summary.violations:
            raise CommandError(f"{len(summary.violations)} invariant violation(s).")
        self.stdout.write(self.style.SUCCESS("every invariant held"))
