"""``reconcile --watch``: apply every manifest change and put back drift, until SIGTERM.

One reconcile runs at a time, in this loop; changes that arrive meanwhile coalesce
into one follow-up run (the trigger is a flag, not a queue). A change whose
manifests fail to validate is reported and applies nothing; the last good desired
state stays in force and drift keeps being corrected towards it.

Safety rules of the daemon, beside the plan's own:

* **Stop means stop.** The shutdown signal is handed down to every wait; after
  SIGTERM no call starts, calls on the wire finish, and the loop ends.
* **No delete from a half-written file.** A delete is applied only once it has been
  planned from two snapshots read at least ``confirm_deletes`` seconds apart; until
  then it is held (and logged), and a confirmation run is scheduled.
* **Failed runs retry soon**, with exponential backoff and jitter from
  ``RETRY_FIRST`` seconds up to the resync interval (kopf's throttler does the same).
* **Readiness tells the truth**: not ready before the first successful run, nor
  while the last run failed or the manifests are invalid.
* **Suspend** (the tree's settings): plan and report drift, write nothing.
* **One writer** (``--leader-elect``): a standby serves its probes and does nothing
  else until it holds the Lease; a leader that loses it stops at once (``leader``).

Every run knows the revision it read (``watcher.snapshot_of``): it is in the run's log
events, the metrics, ``/status`` and the notifications.
"""

from __future__ import annotations

import datetime
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from .. import loader
from .. import settings as settings_
from ..engine import Reconciler
from ..errors import ApiError
from ..executor import DELETED
from ..outcomes import Report, Status
from ..plan import Action, Plan, hold_deletes
from ..problems import Problem, errors, warnings
from ..resources import ROUTE, DesiredState, Key
from ..shutdown import Shutdown, Stopped
from .metrics import Metrics, serve
from .notify import Notifier, RunNotice
from .options import DaemonOptions
from .watcher import Trigger, Watcher, WatchState, snapshot_of

if TYPE_CHECKING:
    from .leader import Elector  # the Kubernetes client is imported only with --leader-elect

log = structlog.get_logger("reconciler.daemon")

RETRY_FIRST = 2.0  # seconds before the first retry of a failed run
ACTIVE = "ACTIVE"


class RunResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    INVALID = "invalid"  # the manifests are invalid; the last good state was applied
    UNCHANGED = "skipped"  # a change event, but the content is what was applied


class Reason(StrEnum):
    START = "start"
    CHANGE = "change"
    RESYNC = "resync"
    RETRY = "retry"
    CONFIRM = "confirm deletes"


class Daemon:
    def __init__(
        self,
        manifests: Path,
        reconciler: Reconciler,
        *,
        settings: DaemonOptions,
        overrides: settings_.Overrides,
        metrics: Metrics,
        shutdown: Shutdown,
        notifier: Notifier,
        elector: Elector | None = None,
    ) -> None:
        self.manifests = manifests
        self.reconciler = reconciler
        self.settings = settings
        self.overrides = overrides  # plan-meaning flags, applied over every snapshot's settings
        self.metrics = metrics
        self.shutdown = shutdown
        self.notifier = notifier
        self.elector = elector
        self.plan_settings = settings_.resolve(None, overrides)
        self.trigger = Trigger(self.plan_settings.debounce, shutdown)
        self.watcher = Watcher(manifests, self.trigger, settings.mode)
        self._desired: DesiredState | None = None
        self._digest = ""
        self._notes: list[Problem] = []
        self._problems: list[str] = []
        self._watch_ok = True
        self._last: dict[str, Any] = {}
        self._last_error = ""
        self._failures = 0  # failed runs in a row
        self._deletes_first_planned: dict[Key, float] = {}
        self._running_since: float | None = None
        self._undone = 0
        self._revision = ""  # of the snapshot the current run read
        self._applied_revision = ""
        self._last_success = ""
        self._resources: list[dict[str, Any]] = []

    # --- lifecycle --------------------------------------------------------------

    def run(self) -> int:
        probes = {"/healthz": self.healthz, "/readyz": self.readyz, "/status": self.status}
        server = serve(self.settings.metrics_addr, self.metrics, probes, detail=self.settings.status_detail)
        host, port = server.server_address[:2]
        self.notifier.start()
        log.info(
            "daemon.started",
            manifests=str(self.manifests),
            metrics_addr=f"{host!s}:{port}",  # the bound port, also when asked for :0
            resync=self.plan_settings.resync_interval,
            debounce=self.plan_settings.debounce,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            if self._lead():
                self.watcher.start()
                self._loop()
        finally:
            self.watcher.stop()
            if self.elector is not None:
                self.elector.release()  # after the last call on the wire: the standby may write now
            self.metrics.leader.set(0)
            server.shutdown()
        log.info("daemon.stopped", left_undone=self._undone, deletes_held=len(self._deletes_first_planned))
        lost = self.elector is not None and self.elector.lost
        return 1 if lost else 0  # lost the Lease: exit, to rejoin as a candidate

    def _lead(self) -> bool:
        """Wait for the Lease when electing (standing by, idle); False if shutdown came first."""
        if self.elector is not None and not self.elector.wait_for_leadership():
            return False
        self.metrics.leader.set(1)
        return True

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.shutdown.is_set():
            return
        log.info("daemon.stopping", signal=signal.Signals(signum).name, grace=self.settings.grace)
        self.shutdown.set()
        # Whatever is still running when the grace period ends is cut off; exit 0 all the same.
        timer = threading.Timer(self.settings.grace, os._exit, args=(0,))
        timer.daemon = True  # a clean stop must not wait for it
        timer.start()

    def _loop(self) -> None:
        reason = Reason.START
        while not self.shutdown.is_set():
            self._reconcile(reason)
            reason = self._wait()

    def _wait(self) -> Reason:
        """Block until a debounced change, the next timed run, or shutdown."""
        due, reason = self._next_timed_run()
        while not self.shutdown.is_set():
            self._check_watcher()
            if self.trigger.wait(min(1.0, max(0.0, due - time.monotonic()))):
                return Reason.CHANGE
            if time.monotonic() >= due:
                return reason
        return Reason.CHANGE

    def _next_timed_run(self) -> tuple[float, Reason]:
        now = time.monotonic()
        resync = self.plan_settings.resync_interval
        runs = [(now + resync, Reason.RESYNC)]
        if self._failures:
            backoff = min(resync, RETRY_FIRST * 2 ** (self._failures - 1))
            runs.append((now + random.uniform(backoff / 2, backoff), Reason.RETRY))
        if self._deletes_first_planned:
            first = min(self._deletes_first_planned.values())
            runs.append((first + self.settings.confirm_deletes, Reason.CONFIRM))
        return min(runs)

    def _check_watcher(self) -> None:
        restarts = self.watcher.restarts
        state = self.watcher.check()
        self._watch_ok = state is not WatchState.FAILED
        if self.watcher.restarts > restarts:
            self.metrics.watcher_restarts.inc()
        if state is not WatchState.OK:
            self.trigger.fire()  # events may have been lost while it was not watching: look again

    # --- one run -----------------------------------------------------------------

    def _reconcile(self, reason: Reason) -> None:
        structlog.contextvars.bind_contextvars(reconcile_id=uuid.uuid4().hex[:12])
        started = self._running_since = time.monotonic()
        try:
            result = self._run(reason)
        except Stopped:  # shutdown began while it read App Mesh: nothing was written
            log.info("reconcile.stopped", reason=reason.value)
            structlog.contextvars.clear_contextvars()
            return
        except ApiError as exc:
            log.error("reconcile.failed", reason=reason.value, error=exc.describe(), error_code=exc.code)
            result, self._last_error = RunResult.FAILURE, exc.describe()
        finally:
            self._running_since = None
        if result is not RunResult.UNCHANGED:
            self._record(result, reason, time.monotonic() - started)
        structlog.contextvars.clear_contextvars()

    def _notify(self, result: RunResult, counts: Mapping[str, int], failing: list[str]) -> None:
        reconcile_id = str(structlog.contextvars.get_contextvars().get("reconcile_id", ""))
        self.notifier.notice(RunNotice(self._revision, result.value, counts, failing, reconcile_id))

    def _record(self, result: RunResult, reason: Reason, seconds: float) -> None:
        self._last = {"result": result.value, "reason": reason.value, "at": time.time()}
        self.metrics.reconciles.labels(result.value).inc()
        self.metrics.duration.observe(seconds)
        for each in RunResult:
            self.metrics.last_result.labels(each.value).set(1 if each is result else 0)
        if result is RunResult.SUCCESS:
            self._failures, self._last_error = 0, ""
            self.metrics.last_success.set_to_current_time()
            self._applied_revision = self._revision
            self._last_success = datetime.datetime.now(datetime.UTC).isoformat()
            self.metrics.applied_revision.info({"revision": self._revision})
        elif result is RunResult.FAILURE:
            self._failures += 1

    def _run(self, reason: Reason) -> RunResult:
        loaded = self._load()
        unchanged = loaded is not None and loaded.digest == self._digest
        if loaded is not None and unchanged and reason is Reason.CHANGE:
            log.info("reconcile.skipped", reason="manifest content unchanged")
            return RunResult.UNCHANGED
        if loaded is not None:
            self._desired, self._digest = loaded.state, loaded.digest
            self._notes = warnings(loaded.problems)
            self.plan_settings = settings_.resolve(loaded.settings, self.overrides)
            self.trigger.debounce = self.plan_settings.debounce
        if self._desired is None:
            self._last_error = "the manifests have never been valid"
            self._notify(RunResult.INVALID, {}, self._problems[:20])
            return RunResult.INVALID
        # With invalid manifests the last good state is still applied, but the run counts as invalid.
        done = RunResult.SUCCESS if loaded is not None else RunResult.INVALID
        plan = self._held(self.reconciler.plan(self._desired, self.plan_settings, self._notes))
        for step in plan.steps:
            for action in step.actions:
                self.metrics.actions.labels(action.value).inc()
        for finding in plan.findings:
            log.warning("plan.finding", finding=str(finding))
        self.metrics.suspended.set(1 if self.plan_settings.suspend else 0)
        self._resources = _resources(plan, None)
        if plan.blocked:
            log.error("reconcile.blocked", reason="the plan has errors; nothing applied")
            found = [str(p) for p in errors(plan.findings)]
            return self._failed(f"the plan has errors: {'; '.join(found)[:2000]}", plan, found[:20])
        log.info("reconcile.planned", reason=reason.value, **plan.counts())
        if not plan.has_changes:
            if done is RunResult.INVALID:
                self._notify(done, plan.counts(), self._problems[:20])
            return done
        if self.plan_settings.suspend:
            log.warning("reconcile.suspended", **plan.counts())
            return done
        if self._revision != self._applied_revision:
            self.notifier.notice(RunNotice(self._revision, "", plan.counts(), [], "", pending=True))
        report = self.reconciler.apply(plan)
        self._resources = _resources(plan, report)
        self._undone = report.count(Status.SKIPPED) if self.shutdown.is_set() else 0
        if unchanged or loaded is None:
            self.metrics.drift.inc(report.count(Status.DONE))
        log.info("reconcile.applied", ok=report.ok, outcomes=len(report.outcomes))
        if not report.ok:
            failed = [o for o in report.outcomes if o.status is Status.FAILED]
            error = "; ".join(f"{o.key}: {o.message}" for o in failed[:20]) or "steps were skipped"
            return self._failed(error, plan, [o.key.address for o in failed])
        unhealthy = [o for o in report.outcomes if o.state not in ("", ACTIVE, DELETED)]
        if unhealthy:  # App Mesh took the write but reports the resource not ACTIVE
            log.warning("apply.unhealthy", resources={o.key.address: o.state for o in unhealthy})
            listed = ", ".join(f"{o.key} ({o.state})" for o in unhealthy)
            return self._failed(
                f"not ACTIVE after the apply: {listed}", plan, [o.key.address for o in unhealthy]
            )
        self._notify(done, plan.counts(), [])
        return done

    def _failed(self, error: str, plan: Plan, failing: list[str]) -> RunResult:
        """A failed run: the reason readiness gives, and the notice that says so."""
        self._last_error = error
        self._notify(RunResult.FAILURE, plan.counts(), failing)
        return RunResult.FAILURE

    def _held(self, plan: Plan) -> Plan:
        """The plan less the deletes not yet planned from two snapshots far enough apart."""
        now = time.monotonic()
        planned = {s.key for s in plan.steps if Action.DELETE in s.actions}
        self._deletes_first_planned = {k: self._deletes_first_planned.get(k, now) for k in planned}
        waiting = {
            key
            for key, first in self._deletes_first_planned.items()
            if now - first < self.settings.confirm_deletes
        }
        # A gateway waits as long as any of its routes does: it cannot go before them.
        waiting |= {k.parent for k in waiting if k.kind == ROUTE and k.parent in planned}
        if waiting:
            log.info(
                "reconcile.deletes_held",
                resources=sorted(k.address for k in waiting),
                confirm_after=self.settings.confirm_deletes,
            )
        return hold_deletes(plan, waiting) if waiting else plan

    def _load(self) -> loader.LoadResult | None:
        """The current snapshot, read from one real path; None (and reported) when invalid."""
        for attempt in (1, 2):
            root, revision = snapshot_of(self.manifests)
            try:
                result = loader.load(root)
                self._revision = revision or f"sha256:{result.digest[:12]}"
                structlog.contextvars.bind_contextvars(revision=self._revision)
                break
            except loader.SnapshotChanged as exc:
                log.info("manifests.changing", detail=str(exc), attempt=attempt)
                self.shutdown.wait(self.plan_settings.debounce)
            except Exception as exc:  # a loader bug must not kill the daemon
                log.exception("manifests.unreadable", error=repr(exc))
                self._problems = [f"the manifests could not be read: {exc!r}"]
                return None
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

    def _leading(self) -> bool:
        return self.elector is None or self.elector.leading

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        lease_ok, lease = self.elector.healthy() if self.elector is not None else (True, {})
        if not self._leading():
            return lease_ok, lease  # a standby is healthy while its attempts go on
        running = self._running_since
        stuck = running is not None and time.monotonic() - running > self.settings.stuck_after
        detail: dict[str, Any] = {
            "watcher": "alive" if self._watch_ok else "dead and could not be restarted",
            "watcher_restarts": self.watcher.restarts,
        }
        if stuck:
            detail["stuck"] = f"one run has lasted over {self.settings.stuck_after:g} s"
        if lease:
            detail["lease"] = lease
        return self._watch_ok and not stuck and lease_ok, detail

    def status(self) -> tuple[bool, dict[str, Any]]:
        """What was applied, what was tried, and each resource as App Mesh last reported it."""
        return True, {
            "lastAppliedRevision": self._applied_revision,
            "lastAttemptedRevision": self._revision,
            "lastResult": self._last.get("result", ""),
            "lastSuccessTime": self._last_success,
            "lastError": self._last_error,
            "suspended": self.plan_settings.suspend,
            "leader": self._leading(),
            "resources": self._resources,
        }

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        if not self._leading():  # a standby is ready to take over: a rollout may go on
            return True, {"role": "standby"}
        if self._problems:
            return False, {
                "reason": "the manifests are invalid; the last good state stays applied",
                "errors": self._problems[:50],
                "last": self._last,
            }
        detail = {"error": self._last_error, "last": self._last}
        if not self._last_success:
            return False, {"reason": "no reconcile has succeeded yet", **detail}
        if self._last.get("result") == RunResult.FAILURE.value:
            return False, {"reason": "the last reconcile failed", **detail}
        return True, {"last": self._last}


def _resources(plan: Plan, report: Report | None) -> list[dict[str, Any]]:
    """Each resource of the plan: identity, the last action and the service's status."""
    outcomes = {o.key: o for o in report.outcomes} if report is not None else {}
    out = []
    for step in plan.steps:
        outcome = outcomes.get(step.key)
        if step.skipped:
            action = "skipped"
        elif outcome is not None:
            action = f"{outcome.action.value} {outcome.status.value}"
        else:
            action = step.summary_action.value if report is None else Action.NOOP.value
        state = outcome.state if outcome is not None and outcome.state else step.live_state
        address = step.key.address
        out.append(
            {"identity": step.key.as_dict(), "address": address, "lastAction": action, "status": state}
        )
    return out
