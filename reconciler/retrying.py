"""One retry layer for every API call: tenacity, exponential backoff, full jitter.

botocore's own retries are off (``total_max_attempts: 1``) so attempts never
multiply. A call gives up after ``max_attempts`` or when the run's time budget
would be overrun by the next wait, whichever comes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from .errors import ApiError
from .shutdown import Shutdown
from .throttle import RetryPolicy

T = TypeVar("T")
log = structlog.get_logger("reconciler.retry")


@dataclass
class RunBudget:
    """Wall-clock budget shared by every call of one run."""

    seconds: float
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def allows(self, wait: float) -> bool:
        return time.monotonic() + wait < self.deadline


class _OutOfTime(stop_base):
    """Stop when the next wait would overrun the run's budget, or the process is shutting down."""

    def __init__(self, retrier: Retrier, shutdown: Shutdown) -> None:
        self.retrier = retrier
        self.shutdown = shutdown

    def __call__(self, retry_state: RetryCallState) -> bool:
        # tenacity draws the wait before it asks whether to stop.
        return self.shutdown.is_set() or not self.retrier.budget.allows(retry_state.upcoming_sleep)


def _attempt(fn: Callable[[], T], _operation: str, _resource: str) -> T:
    return fn()


class Retrier:
    """Runs calls under a policy; counts retries for metrics and benchmarks.

    One tenacity ``Retrying`` serves every call (its state is per thread); the call's
    operation and resource ride along as arguments, for the retry log.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        on_retry: Callable[[ApiError], None] | None = None,
        shutdown: Shutdown | None = None,
    ) -> None:
        self.policy = policy
        self.budget = RunBudget(policy.run_budget)
        self._on_retry = on_retry
        shutdown = shutdown or Shutdown()
        self._retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, ApiError) and e.retryable),
            wait=wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
            stop=stop_any(stop_after_attempt(policy.max_attempts), _OutOfTime(self, shutdown)),
            sleep=shutdown.sleep,  # a shutdown cuts a backoff short (raises Stopped)
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def new_run(self) -> None:
        """Start a fresh time budget (the daemon calls this before each reconcile)."""
        self.budget = RunBudget(self.policy.run_budget)

    def call(self, fn: Callable[[], T], *, operation: str, resource: str) -> T:
        result: T = self._retrying(_attempt, fn, operation, resource)
        return result

    def _before_sleep(self, state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        assert isinstance(error, ApiError)
        if self._on_retry is not None:
            self._on_retry(error)
        log.info(
            "retry",
            operation=state.args[1],
            resource=state.args[2],
            attempt=state.attempt_number,
            wait=round(state.upcoming_sleep, 3),
            error_code=error.code,
            status=error.status,
        )
