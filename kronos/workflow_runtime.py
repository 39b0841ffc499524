"""One way to get a Kailash `LocalRuntime` that leaves the logging configuration alone.

Constructing a LocalRuntime sets its logger (`kailash.runtime.base`) to INFO, after which every
run logs each node's start and end through the JSON formatter, whatever settings say
(`kailash: WARNING`), and for the rest of the process. Every workflow in Kronos (the rebalancing
pipeline, the onboarding checks) runs through `quiet_runtime()`, which puts the level back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from kailash.runtime.local import LocalRuntime

RUNTIME_LOGGER = logging.getLogger("kailash.runtime.base")


@contextlib.contextmanager
def quiet_runtime() -> Iterator[LocalRuntime]:
    level = RUNTIME_LOGGER.level
    runtime = LocalRuntime(enable_monitoring=False, connection_validation="off")
    RUNTIME_LOGGER.setLevel(level)
    with runtime:
        yield runtime
