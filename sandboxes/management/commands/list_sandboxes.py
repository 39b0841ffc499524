"""Print the management commands that start a local sandbox service (run_sandbox_*), one a line.

`make run` starts each of them beside the web server and the worker.
"""

from typing import Any

from django.core.management import get_commands
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "List the sandbox service commands (run_sandbox_*)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name in sorted(get_commands()):
            if name.startswith("run_sandbox_"):
                self.stdout.write(name)
