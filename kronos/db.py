"""Database helpers shared by the services."""

from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction

T = TypeVar("T")


def create_or_winner(create: Callable[[], T], winner: Callable[[], T | None]) -> T:
    """Run `create` in a savepoint; when a unique constraint refuses it because a concurrent call
    (a retry with the same idempotency key, another run of a job) committed the same row first,
    return what `winner` finds instead. When `winner` finds nothing the IntegrityError was some
    other conflict, and it is raised as it is."""
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        existing = winner()
        if existing is None:
            raise
        return existing
