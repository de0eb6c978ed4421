"""One pause of the cyclic garbage collector, shared by the loader and the executor.

A load builds many small objects and frees none, an apply creates many and frees few:
collections meanwhile are pure cost. The pause is counted, so a load and an apply
overlapping in two threads (the daemon's) re-enable collection only when the last ends,
and only if it was enabled before the first began.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No automatic collection inside the block (nor in any other thread meanwhile)."""
    global _depth, _was_enabled  # noqa: PLW0603 - one process-wide switch, as gc itself is
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
