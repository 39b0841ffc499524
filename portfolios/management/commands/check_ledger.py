"""Prove the ledger consistent: every balance equals its postings, every entry balances."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portfolios import ledger


class Command(BaseCommand):
    help = "Check that positions and cash balances equal the sums of their postings and every entry balances."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = ledger.verify()
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"The ledger has {len(problems)} difference{'s' if len(problems) != 1 else ''}.")
        self.stdout.write(self.style.SUCCESS("The ledger is consistent."))
