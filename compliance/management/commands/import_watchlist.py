"""Load a watch list CSV (name, aliases, date_of_birth, country, list) for the sandbox AML screening."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.services import system_user
from compliance import services
from compliance.errors import ComplianceError


class Command(BaseCommand):
    help = "Import a watch list CSV: name, aliases (separated by ;), date_of_birth (YYYY-MM-DD), country, list."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--rescreen", action="store_true", help="Rescreen every investor afterwards.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        try:
            counts = services.watchlist_import(csv_text=text, acting_user=system_user())
        except ComplianceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Watch list: {counts['created']} added, {counts['updated']} updated, {counts['unchanged']} unchanged."
            )
        )
        if options["rescreen"]:
            result = services.aml_rescreen_all()
            self.stdout.write(f"Rescreened {result['screened']} investors: {result['hits']} hits.")
