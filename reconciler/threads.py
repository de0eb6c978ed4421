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
    """``fn`` over ``items`` on up to ``workers`` threads, results in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [future.result() for future in [submit(pool, fn, item) for item in items]]
