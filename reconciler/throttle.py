"""Client-side limits: rates, call slots and the retry policy, shared by all workers.

The write bucket is adaptive (additive increase, multiplicative decrease): each
429 cuts its rate and each second wins a little back, so a long apply settles just
under the service's limit instead of hammering it. Waiters block on a condition
until their token is due (no polling), and wake at once on shutdown.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .shutdown import Shutdown


@dataclass(frozen=True)
class Limits:
    read_rate: float = 40.0
    write_rate: float = 8.0
    concurrency: int = 16  # API calls in flight at once


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    # Pacing under throttling is the adaptive write limit's job (throttle.py); a per-call
    # backoff only spreads retries out. A low cap keeps one unlucky streak of failures
    # from setting the wall time of a whole apply (bench scenario 4).
    initial_wait: float = 0.1
    max_wait: float = 2.0
    run_budget: float = 600.0


class TokenBucket:
    """Blocks callers so that at most ``rate`` calls start per second (bursts up to ``burst``)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        shutdown: Shutdown | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._clock = clock
        self._stamp = clock()
        self._shutdown = shutdown or Shutdown()
        self._cond = self._shutdown.condition()

    def acquire(self) -> float:
        """Take one token, waiting until there is one; returns the seconds waited.

        Nothing is reserved: a waiter re-checks when its token is due, so a rate cut by a
        429 holds back every waiting caller at once instead of after a queue of
        reservations. Raises ``Stopped`` when shutdown begins.
        """
        started = self._clock()
        with self._cond:
            while True:
                self._shutdown.check()
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return self._clock() - started
                self._cond.wait((1 - self._tokens) / self.rate)

    def try_acquire(self) -> bool:
        """Take one token if one is there now (a server-side limit: refuse rather than wait)."""
        with self._cond:
            self._refill()
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def on_throttle(self) -> None:
        """The service said 429; a fixed bucket has nothing to learn."""


class AdaptiveBucket(TokenBucket):
    """A token bucket whose rate backs off on 429 and recovers over time (AIMD).

    A 429 cuts the rate by ``decrease``, at most once per ``cooldown`` seconds, so one
    burst of throttles counts once (as TCP cuts once per round trip). The rate then
    grows back linearly, by ``recovery`` of the configured rate each second.
    """

    def __init__(
        self,
        rate: float,
        *,
        floor: float = 0.5,
        decrease: float = 0.7,
        recovery: float = 0.1,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        shutdown: Shutdown | None = None,
    ) -> None:
        # A burst of one keeps the bucket from dumping saved-up tokens onto a limit it just hit.
        super().__init__(rate, burst=1.0, clock=clock, shutdown=shutdown)
        self.ceiling = rate
        self.floor = min(floor, rate)
        self.decrease = decrease
        self.increase = rate * recovery
        self.cooldown = cooldown
        self._last_cut = -cooldown

    def _refill(self) -> None:
        now = self._clock()
        self.rate = min(self.ceiling, self.rate + (now - self._stamp) * self.increase)
        super()._refill()

    def on_throttle(self) -> None:
        with self._cond:
            now = self._clock()
            if now - self._last_cut >= self.cooldown:
                self._refill()
                self.rate = max(self.floor, self.rate * self.decrease)
                self._last_cut = now


class Slots:
    """At most ``count`` calls in flight; a waiter blocks on a condition and wakes on shutdown."""

    def __init__(self, count: int, shutdown: Shutdown) -> None:
        self._free = count
        self._shutdown = shutdown
        self._cond = shutdown.condition()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold one call slot for the block; waits for a free one, and raises ``Stopped`` on shutdown."""
        with self._cond:
            while True:
                self._shutdown.check()  # no call starts once shutting down
                if self._free:
                    break
                self._cond.wait()
            self._free -= 1
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify()
