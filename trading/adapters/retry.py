"""Backoff shared by the outside-system clients (custodian, banking)."""

import random


def jittered_backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, …): exponential, capped, with full
    jitter so many workers retrying at once don't retry in step."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311  # nosec B311 -- retry jitter, not security
