"""The daemon's status: what each run did, from which the probes and ``/status`` answer.

``RunStatus`` is written by the loop (one run at a time) and by the API call observer
(progress, from worker threads), and read by the probe server's threads; each field is
replaced whole, never mutated in place, so a reader sees one run's values.

Progress is an answer from App Mesh (any HTTP status; a timeout or a refused connection
is none). A run that makes progress is never stuck, however long it takes (a cold start
of a big tree); one that has had no answer for longer than a call can take is hung.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..resources import Group, Key


class RunResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    INVALID = "invalid"  # the manifests are invalid; the last good state was applied
    SUSPENDED = "suspended"  # planned only: the settings say suspend, nothing was applied


class Reason(StrEnum):
    """Why a run started."""

    START = "start"
    CHANGE = "change"
    RESYNC = "resync"
    RETRY = "retry"
    CONFIRM = "confirm deletes"


@dataclass(frozen=True)
class Failure:
    """Why a run failed: the error readiness gives, the addresses a notice names."""

    error: str
    failing: tuple[str, ...] = ()
    code: str = ""  # the API's error code when App Mesh refused or never answered

    def same_as(self, other: Failure | None) -> bool:
        """The same failure again (a retry of it), which is not news: only the API's code
        decides for API errors, whose messages carry per-call detail."""
        if other is None:
            return False
        if self.code or other.code:
            return self.code == other.code
        return (self.error, self.failing) == (other.error, other.failing)


@dataclass(frozen=True)
class RunRecord:
    """One finished run."""

    result: RunResult
    reason: Reason
    revision: str
    finished: float  # unix time
    counts: Mapping[str, int] = field(default_factory=dict)
    failure: Failure | None = None
    changed: bool = False  # an apply was made

    def as_json(self) -> dict[str, Any]:
        return {"result": self.result.value, "reason": self.reason.value, "at": self.finished}


@dataclass(frozen=True)
class _Running:
    revision: str
    started: float  # time.monotonic()


class RunStatus:
    """Each run's record, the run in progress, and the answers built from them."""

    def __init__(self) -> None:
        self.last: RunRecord | None = None
        self.applied_revision = ""
        self.attempted_revision = ""
        self.last_success = ""  # ISO 8601
        self.failures = 0  # failed runs in a row
        self.problems: list[str] = []  # errors of the latest snapshot
        self.resources: dict[Group, dict[Key, dict[str, Any]]] = {}  # by gateway: a change replaces one
        self.suspended = False
        self._running: _Running | None = None
        self._progress = 0.0  # time.monotonic() of the last answer from App Mesh

    # --- written by the loop ------------------------------------------------------

    def begin(self) -> None:
        self._running = _Running(self.attempted_revision, time.monotonic())

    def read(self, revision: str) -> None:
        """The run in progress read this revision of the manifests."""
        self.attempted_revision = revision
        if self._running is not None:
            self._running = _Running(revision, self._running.started)

    def end(self, record: RunRecord | None) -> None:
        """The run is over; ``record`` is None for a run that did nothing to record."""
        self._running = None
        if record is None:
            return
        self.last = record
        if record.result is RunResult.FAILURE:
            self.failures += 1
            return
        self.failures = 0
        if record.result is RunResult.SUCCESS:
            self.applied_revision = record.revision
            self.last_success = datetime.datetime.fromtimestamp(record.finished, datetime.UTC).isoformat()

    def answered(self, status: int) -> None:
        """An API call was answered (any thread): the run in progress is not hung."""
        if status:
            self._progress = time.monotonic()

    # --- read by the probes ----------------------------------------------------------

    @property
    def error(self) -> str:
        failure = self.last.failure if self.last is not None else None
        return failure.error if failure is not None else ""

    def silent_for(self) -> float:
        """Seconds the run in progress has gone without progress; 0 when idle."""
        running = self._running
        if running is None:
            return 0.0
        return time.monotonic() - max(running.started, self._progress)

    def liveness(self, stuck_after: float) -> tuple[bool, dict[str, Any]]:
        silent = self.silent_for()
        if silent <= stuck_after:
            return True, {}
        return False, {"stuck": f"one run has made no progress for over {stuck_after:g} s"}

    def readiness(self, stall_after: float) -> tuple[bool, dict[str, Any]]:
        """Ready while what git says is live: the last run succeeded and none is hung."""
        last = self.last.as_json() if self.last is not None else {}
        silent = self.silent_for()
        running = self._running
        if running is not None and silent > stall_after:
            return False, {
                "reason": f"a reconcile has had no answer from App Mesh for {silent:.0f} s "
                f"(more than {stall_after:g} s)",
                "revision": running.revision,
                "last": last,
            }
        if self.problems:
            return False, {
                "reason": "the manifests are invalid; the last good state stays applied",
                "errors": self.problems[:50],
                "last": last,
            }
        detail = {"error": self.error, "last": last}
        if self.last is None or not (self.last_success or self.last.result is RunResult.SUSPENDED):
            return False, {"reason": "no reconcile has succeeded yet", **detail}
        if self.last.result is RunResult.FAILURE:
            return False, {"reason": "the last reconcile failed", **detail}
        return True, {"last": last}

    def track(self, entries: dict[Key, dict[str, Any]], gateways: set[Key] | None, *, planned: bool) -> None:
        """Each resource's entry; a partial plan (``gateways``) replaces only those gateways' entries."""
        if gateways is None and planned:
            self.resources = {}
        elif planned and gateways is not None:
            for gateway in gateways:
                self.resources.pop(gateway.group, None)
        for key, entry in entries.items():
            self.resources.setdefault(key.group, {})[key] = entry

    def _keys(self) -> list[tuple[Group, Key]]:
        return [(group, key) for group, entries in self.resources.items() for key in entries]

    def as_json(self, leader: bool) -> dict[str, Any]:
        """``GET /status``: what was applied, what was tried, each resource as last reported."""
        return {
            "lastAppliedRevision": self.applied_revision,
            "lastAttemptedRevision": self.attempted_revision,
            "lastResult": self.last.result.value if self.last is not None else "",
            "lastSuccessTime": self.last_success,
            "lastError": self.error,
            "suspended": self.suspended,
            "leader": leader,
            "resources": [self.resources[g][k] for g, k in sorted(self._keys(), key=lambda gk: gk[1].rank())],
        }
