"""Run the sandbox bank (Plaid-shaped transfers): `python manage.py run_sandbox_banking [--port 8103]`."""

import threading
from typing import Any

from django.core.management.base import BaseCommand

from sandboxes.banking import SandboxBank


class Command(BaseCommand):
    help = "Run the sandbox bank HTTP service (account links and transfers)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8103)
        parser.add_argument("--manual-settle", action="store_true", help="Leave transfers pending until simulated.")

    def handle(self, *args: Any, **options: Any) -> None:
        bank = SandboxBank(auto_settle=not options["manual_settle"])
        url = bank.start(options["host"], options["port"])
        self.stdout.write(f"Sandbox bank on {url}")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            bank.stop()
