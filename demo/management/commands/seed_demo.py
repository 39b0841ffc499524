"""Build the deterministic demo firm and print its logins.

Runs `demo.accounts.seed()`, then the seeder of each later app (`demo.portfolios`,
`demo.trading`, `demo.compliance`, `demo.onboarding`, `demo.operations`, `demo.reports`) in dependency order,
all in one transaction. Running it again on a seeded database changes nothing. Then the seeded
events are published at once (as the relay would within seconds), so the demo users' inboxes hold
their notifications from the first page.
"""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Firm
from accounts.services import events_publish
from demo import accounts as accounts_demo
from demo import compliance, onboarding, operations, portfolios, reports, trading

LATER_APPS = (portfolios, trading, compliance, onboarding, operations, reports)


class Command(BaseCommand):
    help = "Seed the demo firm (idempotent) and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        if Firm.objects.filter(name=accounts_demo.DEMO_FIRM).exists():
            self.stdout.write("The demo firm is already seeded.")
        else:
            with transaction.atomic():
                demo = accounts_demo.seed()
                for app in LATER_APPS:
                    app.seed(demo)
            self.stdout.write(
                self.style.SUCCESS(f"Seeded {accounts_demo.DEMO_FIRM}: {len(demo.households)} households.")
            )
            while events_publish():  # the seeded events, and the notifications they make
                pass
        self.stdout.write("Demo logins (password for all: kronos-demo):")
        for role, email, _ in accounts_demo.logins():
            self.stdout.write(f"  {role:<20} {email}")
