"""Work on threads that keeps the caller's log context (the reconcile id rides on contextvars)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def submit(pool: ThreadPoolExecutor, fn: Callable[[T], R], item: T) -> Future[R]:
    """``pool.submit(fn, item)``, run in a copy of the caller's context."""
    return pool.submit(contextvars.copy_context().run, fn, item)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``fn`` over ``items`` on up to ``workers`` threads, results in order.

    No more threads than items, and none for one item: starting a thread costs more than
    a small read (a change run reads one gateway).
    """
    work = list(items)
    if len(work) <= 1:
        return [fn(item) for item in work]
    with ThreadPoolExecutor(max_workers=min(workers, len(work))) as pool:
        return [future.result() for future in [submit(pool, fn, item) for item in work]]
