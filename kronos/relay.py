"""The one way a service hands work to a Celery worker: `enqueue_after_commit(task_name, ...)`.

Services never import their app's `tasks` module (tasks import services, not the other way round):
they name the task, and the relay sends it once the surrounding transaction commits, so a worker
never sees a row that was rolled back. Outside a transaction it is sent at once. The task is looked
up in the Celery app's registry, so eager mode (tests) runs it in-process like `apply_async` does.
If the broker is down the call is logged and dropped: every relayed task is also a periodic safety
net (the outbox relay, the event relay), so nothing is lost, only later.
"""

import functools
import logging
from typing import Any

from celery import current_app
from django.db import connection, transaction

logger = logging.getLogger(__name__)


@functools.cache
def _import_task_modules() -> None:
    """Import every app's `tasks` module (Celery's autodiscovery), as a worker does when it starts:
    a web process has not, and its registry would lack the tasks no code imported yet."""
    current_app.loader.import_default_modules()


def _task(task_name: str) -> Any:
    try:
        return current_app.tasks[task_name]
    except KeyError:
        _import_task_modules()
        return current_app.tasks[task_name]


def enqueue(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Send the named task now; a broker outage is logged, not raised."""
    try:
        _task(task_name).apply_async(args=args, kwargs=kwargs, retry=False)
    except KeyError:  # a misspelt task name is a bug, not an outage
        raise
    except Exception:  # the periodic run of the same task picks the work up  # noqa: BLE001
        logger.warning("could not queue %s; its periodic run will do the work", task_name)


def enqueue_after_commit(task_name: str, *args: Any, once: bool = False, **kwargs: Any) -> None:
    """Send the named task when the current transaction commits (at once outside one).

    once=True sends it at most once per transaction however many times it is asked for (a relay
    kick after each of a thousand orders is one kick)."""
    key = ("kronos.relay", task_name, args, tuple(sorted(kwargs.items())))
    if (
        once
        and connection.in_atomic_block
        and any(getattr(entry[1], "_relay_key", None) == key for entry in connection.run_on_commit)
    ):
        return

    def send() -> None:
        enqueue(task_name, *args, **kwargs)

    send._relay_key = key  # type: ignore[attr-defined]
    transaction.on_commit(send)
