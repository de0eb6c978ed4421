"""``reconcile --watch``: apply every manifest change and put back drift, until SIGTERM.

One reconcile runs at a time, in this loop; changes that arrive meanwhile coalesce
into one follow-up run (the trigger is a flag, not a queue). A change whose
manifests fail to validate is reported and applies nothing; the last good desired
state stays in force and drift keeps being corrected towards it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from . import loader
from . import settings as settings_
from .engine import Reconciler
from .errors import ApiError
from .executor import Status
from .metrics import Metrics, serve
from .problems import Problem, errors, warnings
from .resources import DesiredState
from .watcher import Trigger, Watcher

log = structlog.get_logger("reconciler.daemon")


@dataclass(frozen=True, kw_only=True)
class WatchSettings:
    """How the daemon runs (not what its plans mean: that is the tree's kind: Settings)."""

    mode: str = "auto"
    metrics_addr: str = "0.0.0.0:8080"
    grace: float = 25.0


class Daemon:
    def __init__(
        self,
        manifests: Path,
        reconciler: Reconciler,
        settings: WatchSettings,
        overrides: Mapping[str, Any],
        metrics: Metrics,
    ) -> None:
        self.manifests = manifests
        self.reconciler = reconciler
        self.settings = settings
        self.overrides = overrides  # plan-meaning flags, applied over every snapshot's settings
        self.metrics = metrics
        self.stopping = reconciler.mesh.retrier.stopping
        self.plan_settings = settings_.resolve(None, overrides)
        self.trigger = Trigger(self.plan_settings.debounce)
        self.watcher = Watcher(manifests, self.trigger, settings.mode)
        self._desired: DesiredState | None = None
        self._digest = ""
        self._notes: list[Problem] = []
        self._problems: list[str] = []
        self._watch_ok = True
        self._last: dict[str, Any] = {}

    # --- lifecycle --------------------------------------------------------------

    def run(self) -> int:
        server = serve(self.settings.metrics_addr, self.metrics, self.healthz, self.readyz)
        log.info(
            "daemon.started",
            manifests=str(self.manifests),
            metrics_addr=self.settings.metrics_addr,
            resync=self.plan_settings.resync_interval,
            debounce=self.plan_settings.debounce,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.watcher.start()
        try:
            self._loop()
        finally:
            self.watcher.stop()
            server.shutdown()
        log.info("daemon.stopped")
        return 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping.is_set():
            return
        log.info("daemon.stopping", signal=signal.Signals(signum).name, grace=self.settings.grace)
        self.stopping.set()
        self.trigger.wake()
        # Whatever is still running when the grace period ends is cut off; exit 0 all the same.
        timer = threading.Timer(self.settings.grace, os._exit, args=(0,))
        timer.daemon = True  # a clean stop must not wait for it
        timer.start()

    def _loop(self) -> None:
        reason = "start"
        while not self.stopping.is_set():
            self._reconcile(reason)
            reason = self._wait()

    def _wait(self) -> str:
        """Block until a debounced change, the periodic resync, or shutdown."""
        due = time.monotonic() + self.plan_settings.resync_interval
        while not self.stopping.is_set():
            self._check_watcher()
            if self.trigger.wait(min(1.0, max(0.0, due - time.monotonic()))):
                return "change"
            if time.monotonic() >= due:
                return "resync"
        return "stop"

    def _check_watcher(self) -> None:
        restarts = self.watcher.restarts
        status = self.watcher.check()
        self._watch_ok = status != "failed"
        if self.watcher.restarts > restarts:
            self.metrics.watcher_restarts.inc()
        if status != "ok":
            self.trigger.fire()  # events may have been lost while it was not watching: look again

    # --- one run -----------------------------------------------------------------

    def _reconcile(self, reason: str) -> None:
        structlog.contextvars.bind_contextvars(reconcile_id=uuid.uuid4().hex[:12])
        started = time.monotonic()
        try:
            result = self._run(reason)
        except ApiError as exc:
            log.error("reconcile.failed", reason=reason, error=exc.describe(), error_code=exc.code)
            result = "failure"
        self._last = {"result": result, "reason": reason, "at": time.time()}  # set once a run finished
        if result != "skipped":
            self.metrics.reconciles.labels(result).inc()
            self.metrics.duration.observe(time.monotonic() - started)
        if result == "success":
            self.metrics.last_success.set_to_current_time()
        structlog.contextvars.clear_contextvars()

    def _run(self, reason: str) -> str:
        loaded = self._load()
        unchanged = loaded is not None and loaded.digest == self._digest
        if loaded is not None and unchanged and reason == "change":
            log.info("reconcile.skipped", reason="manifest content unchanged")
            return "skipped"
        if loaded is not None:
            self._desired, self._digest = loaded.state, loaded.digest
            self._notes = warnings(loaded.problems)
            self.plan_settings = settings_.resolve(loaded.settings, self.overrides)
            self.trigger.debounce = self.plan_settings.debounce
        if self._desired is None:
            return "invalid"
        # With invalid manifests the last good state is still applied, but the run counts as invalid.
        done = "success" if loaded is not None else "invalid"
        plan = self.reconciler.plan(self._desired, self.plan_settings, self._notes)
        for step in plan.steps:
            for action in step.actions:
                self.metrics.actions.labels(action.value).inc()
        for finding in plan.findings:
            log.warning("plan.finding", finding=str(finding))
        if plan.blocked:
            log.error("reconcile.blocked", reason="the plan has errors; nothing applied")
            return "failure"
        log.info("reconcile.planned", reason=reason, **plan.counts())
        if not plan.has_changes:
            return done
        report = self.reconciler.apply(plan)
        if unchanged or loaded is None:
            self.metrics.drift.inc(report.count(Status.DONE))
        log.info("reconcile.applied", ok=report.ok, outcomes=len(report.outcomes))
        return done if report.ok else "failure"

    def _load(self) -> loader.LoadResult | None:
        """The current snapshot, read from one real path; None (and reported) when invalid."""
        for attempt in (1, 2):
            root = Path(os.path.realpath(self.manifests))
            try:
                result = loader.load(root)
                break
            except loader.SnapshotChanged as exc:
                log.info("manifests.changing", detail=str(exc), attempt=attempt)
                self.stopping.wait(self.plan_settings.debounce)
        else:
            self._problems = ["the manifests kept changing while being read"]
            return None
        self._problems = [str(p) for p in errors(result.problems)]
        self.metrics.manifest_errors.set(len(self._problems))
        if result.ok:
            return result
        log.error("manifests.invalid", errors=self._problems, keeping="last good state")
        return None

    # --- probes ----------------------------------------------------------------------

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        return self._watch_ok, {
            "watcher": "alive" if self._watch_ok else "dead and could not be restarted",
            "watcher_restarts": self.watcher.restarts,
        }

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        if not self._last:
            return False, {"reason": "the first reconcile has not finished"}
        if self._problems:
            return False, {
                "reason": "the manifests are invalid; the last good state stays applied",
                "errors": self._problems[:50],
                "last": self._last,
            }
        return True, {"last": self._last}
