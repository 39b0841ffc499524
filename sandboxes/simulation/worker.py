"""A Celery worker on the simulation's clock: `python -m sandboxes.simulation.worker <celery args>`.

The simulator starts it (for the night a worker is killed mid-scan) with the simulated moment in
KRONOS_SIMULATED_NOW; the worker's clocks start there and tick, as the simulator's do.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime


def main() -> None:
    moment = os.environ.get("KRONOS_SIMULATED_NOW")
    if moment:
        # Imported here, as celery below: the clock must travel before Celery and Django load.
        import time_machine

        time_machine.travel(datetime.fromisoformat(moment), tick=True).start()
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
