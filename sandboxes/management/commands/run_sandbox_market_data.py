"""Run the market-data sandbox: a Polygon-shaped HTTP service serving closes from a CSV file or the database."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portfolios.adapters.market_data.base import MarketDataError
from sandboxes.market_data import serve


class Command(BaseCommand):
    help = "Serve daily closes in Polygon's response shape (GET /v2/aggs/ticker/{symbol}/range/1/day/{from}/{to})."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8101)
        parser.add_argument("--csv", default="", help="A wide CSV file to serve (default: the Price table).")
        parser.add_argument(
            "--corporate-actions",
            default="",
            help='A JSON file {"dividends": [...], "splits": [...]} in Polygon\'s shape to serve at /v3/reference/.',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            server = serve(
                host=options["host"],
                port=options["port"],
                csv_path=options["csv"] or None,
                corporate_actions_path=options["corporate_actions"] or None,
            )
        except (OSError, ValueError, MarketDataError) as exc:
            raise CommandError(f"Cannot start the market data sandbox: {exc}") from exc
        source = options["csv"] or "the database"
        self.stdout.write(f"Market data sandbox on http://{options['host']}:{options['port']} serving {source}.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
