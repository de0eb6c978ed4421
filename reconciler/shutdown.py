"""One signal to stop, made where the process is wired and handed down to every wait.

After SIGTERM no new API call may start: a worker waiting for a rate-limit token, a
call slot, a retry backoff or the daemon's debounce wakes at once and gives up with
``Stopped``; calls already on the wire finish. Every condition a wait blocks on is
made here (``condition``), so ``set`` can wake them all. The signal carries why it
was given (the first reason wins): the daemon's exit status depends on it.
"""

from __future__ import annotations

import threading
import weakref
from enum import StrEnum


class Stopped(Exception):
    """A wait gave up because the process is shutting down; nothing new was started."""


class StopReason(StrEnum):
    SIGNAL = "signal"  # SIGTERM or SIGINT: a clean stop
    LEASE_LOST = "lease lost"  # another replica may write now: stop and rejoin as a candidate


class Shutdown:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: StopReason | None = None
        self._conditions: weakref.WeakSet[threading.Condition] = weakref.WeakSet()
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self, reason: StopReason = StopReason.SIGNAL) -> None:
        with self._lock:
            self.reason = self.reason or reason
        self._event.set()
        with self._lock:
            conditions = list(self._conditions)
        for condition in conditions:
            with condition:
                condition.notify_all()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (at once) when shutting down."""
        return self._event.wait(seconds)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or raise ``Stopped`` the moment shutdown begins."""
        if self._event.wait(seconds):
            raise Stopped

    def condition(self) -> threading.Condition:
        """A condition that ``set`` wakes: for waits that must not outlast a shutdown."""
        condition = threading.Condition()
        with self._lock:
            self._conditions.add(condition)
        return condition

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped
