"""Run the sandbox custodian: `python manage.py run_sandbox_custodian [--port 8102]`.

It fills at the price in the order, else the latest close in this database, and posts
signed webhooks to --webhook-url (default SITE_URL/webhooks/custodian/). With
--books-from-database it starts holding what this database's ledger holds (`make run`: the demo
seed wrote its books with no custodian running, and a custodian that did not know them would
break reconciliation on every position of every account).
"""

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.db.models import Sum

from portfolios.models import LedgerBook, Posting, Price
from sandboxes.custodian import SandboxCustodian


def _price_from_db(symbol: str) -> Decimal | None:
    close_old_connections()
    return Price.objects.filter(security__symbol=symbol).order_by("-date").values_list("close", flat=True).first()


def ledger_moves() -> Iterator[tuple[str, date, str, Decimal]]:
    """This database's client books as the custodian's moves, one query: for each account with a
    custodian number, each day's change of each security and of its cash in its own currency
    ("CASH"), by the postings' effective dates -- so its statement of any day is our books' of
    that day."""
    rows = (
        Posting.objects.filter(book__kind=LedgerBook.Kind.CLIENT, book__account__custodian_account_number__gt="")
        .values_list(
            "book__account__custodian_account_number",
            "book__account__base_currency",
            "entry__effective_date",
            "security__symbol",
            "currency",
        )
        .annotate(total=Sum("quantity"))
        .order_by("book__account__custodian_account_number", "entry__effective_date")
    )
    for number, base_currency, day, symbol, currency, total in rows:
        if not total:
            continue
        if symbol:
            yield number, day, symbol, total
        elif currency == base_currency:
            yield number, day, "CASH", total


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
        parser.add_argument(
            "--books-from-database",
            action="store_true",
            help="start holding what this database's ledger holds (the embedded demo)",
        )

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
        if options["books_from_database"]:
            taken = sandbox.open_books(ledger_moves())
            self.stdout.write(f"Opened its books from this database's ledger ({taken} moves).")
        self.stdout.write(
            f"Sandbox custodian on http://{options['host']}:{options['port']} -> {options['webhook_url']}"
        )
        sandbox.serve_forever(options["host"], options["port"])
