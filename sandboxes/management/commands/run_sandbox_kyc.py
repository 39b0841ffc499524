"""Run the sandbox KYC provider (Jumio-shaped) on 127.0.0.1:8104 until interrupted."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from sandboxes.kyc import SandboxKYCServer


class Command(BaseCommand):
    help = "Run the sandbox KYC provider: deterministic outcomes by last name, signed callbacks."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8104)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--delay", type=float, default=1.0, help="Seconds before the result is sent.")

    def handle(self, *args: Any, **options: Any) -> None:
        server = SandboxKYCServer(
            (options["host"], options["port"]), secret=settings.KYC_WEBHOOK_SECRET, delay=options["delay"]
        )
        self.stdout.write(
            f"Sandbox KYC on {server.url} (last name with 'Reject' → rejected, 'Review' → needs review, else approved)"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
