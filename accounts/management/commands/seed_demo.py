"""Build the deterministic demo firm and print its logins.

Runs `accounts.demo.seed()`, then `<app>.demo.seed(demo)` for each later app that has
one, all in one transaction. Running it again on a seeded database changes nothing.
"""

import importlib
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import demo as accounts_demo
from accounts.models import Firm

LATER_APPS = ("portfolios", "trading", "compliance", "onboarding", "operations")


class Command(BaseCommand):
    help = "Seed the demo firm (idempotent) and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        if Firm.objects.filter(name=accounts_demo.DEMO_FIRM).exists():
            self.stdout.write("The demo firm is already seeded.")
        else:
            with transaction.atomic():
                demo = accounts_demo.seed()
                for app in LATER_APPS:
                    try:
                        module = importlib.import_module(f"{app}.demo")
                    except ModuleNotFoundError as exc:
                        if exc.name != f"{app}.demo":
                            raise
                        continue
                    module.seed(demo)
            self.stdout.write(
                self.style.SUCCESS(f"Seeded {accounts_demo.DEMO_FIRM}: {len(demo.households)} households.")
            )
        self.stdout.write("Demo logins (password for all: kronos-demo):")
        for role, email, _ in accounts_demo.logins():
            self.stdout.write(f"  {role:<20} {email}")
