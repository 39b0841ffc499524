"""Run the sandbox custodian: `python manage.py run_sandbox_custodian [--port 8102]`.

It fills at the price in the order, else the latest close in this database, and posts
signed webhooks to --webhook-url (default SITE_URL/webhooks/custodian/).
"""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from portfolios.models import Price
from sandboxes.custodian import SandboxCustodian


def _price_from_db(symbol: str) -> Decimal | None:
    close_old_connections()
    return Price.objects.filter(security__symbol=symbol).order_by("-date").values_list("close", flat=True).first()


class Command(BaseCommand):
    help = "Run the sandbox custodian HTTP service (orders, fills, signed webhooks, statements)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8102)
        parser.add_argument("--webhook-url", default=f"{settings.SITE_URL.rstrip('/')}/webhooks/custodian/")
        parser.add_argument("--fail-rate", type=float, default=0.0)
        parser.add_argument("--duplicate-rate", type=float, default=0.0)
        parser.add_argument("--reorder", action="store_true")
        parser.add_argument("--partial-fills", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        sandbox = SandboxCustodian(
            secret=settings.CUSTODIAN_WEBHOOK_SECRET,
            webhook_url=options["webhook_url"],
            price_lookup=_price_from_db,
            fail_rate=options["fail_rate"],
            duplicate_rate=options["duplicate_rate"],
            reorder=options["reorder"],
            partial_fills=options["partial_fills"],
        )
        self.stdout.write(
            f"Sandbox custodian on http://{options['host']}:{options['port']} -> {options['webhook_url']}"
        )
        sandbox.serve_forever(options["host"], options["port"])
