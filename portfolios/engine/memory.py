"""One context manager for the engine's hot paths: no cyclic garbage collection while a chunk
is built or planned."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The engine and its snapshot reader allocate only acyclic objects (rows, dataclasses of
    Decimals, tuples), but a chunk keeps hundreds of thousands of them alive, and the cyclic
    collector walking them costs a third to 40% of a run. Reference counting still frees
    everything; the collector resumes after (only if it was running before)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
