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
  while the last run failed, the manifests are invalid, or the run in progress has
  had no answer from App Mesh for longer than a working call path is ever silent
  (``stall_after``). Liveness counts progress the same way (``status``).
* **Every failure is told once**: a notice for each distinct failure of any kind,
  none for its retries; a run cut short by a stop is no verdict and tells nothing.
* **Suspend** (the tree's settings): plan and report drift, write nothing.
* **One writer** (``--leader-elect``): a standby serves its probes and does nothing
  else until it holds the Lease; a leader that loses it, or finds before a write that
  it cannot be sure it still holds it, stops at once (``leader``).

Every run knows the revision it read (``watcher.snapshot_of``): it is in the run's log
events, the metrics, ``/status`` and the notifications.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from .. import loader
from .. import settings as settings_
from ..appmesh_client import CallObserver
from ..engine import Reconciler
from ..errors import ApiError
from ..outcomes import Report, Status
from ..plan import Action, Plan, hold_deletes
from ..problems import Problem, errors, warnings
from ..resources import ROUTE, DesiredState, Key, ServiceState, touched
from ..shutdown import Shutdown, Stopped, StopReason
from .metrics import Metrics, serve
from .notify import Notifier, RunNotice
from .options import DaemonOptions
from .status import Failure, Reason, RunRecord, RunResult, RunStatus
from .watcher import Trigger, Watcher, WatchState, snapshot_of

if TYPE_CHECKING:
    from .leader import Elector  # the Kubernetes client is imported only with --leader-elect

log = structlog.get_logger("reconciler.daemon")

RETRY_FIRST = 2.0  # seconds before the first retry of a failed run
HEALTHY = (None, ServiceState.ACTIVE, ServiceState.DELETED)  # what a resource may be after a write


def observer(metrics: Metrics, runs: RunStatus) -> CallObserver:
    """What each API call's answer updates: the metrics, and the progress of the run."""

    def observe(operation: str, status: int) -> None:
        metrics.api_call(operation, status)
        runs.answered(status)

    return observe


class Daemon:
    def __init__(
        self,
        manifests: Path,
        reconciler: Reconciler,
        *,
        options: DaemonOptions,
        overrides: settings_.Overrides,
        metrics: Metrics,
        shutdown: Shutdown,
        notifier: Notifier,
        elector: Elector | None = None,
        runs: RunStatus | None = None,
    ) -> None:
        self.manifests = manifests
        self.reconciler = reconciler
        self.options = options  # how the daemon runs (what its plans mean: plan_settings)
        self.overrides = overrides  # plan-meaning flags, applied over every snapshot's settings
        self.metrics = metrics
        self.shutdown = shutdown
        self.notifier = notifier
        self.elector = elector
        self.runs = runs or RunStatus()
        self.plan_settings = settings_.resolve(None, overrides)
        self.trigger = Trigger(self.plan_settings.debounce, shutdown)
        self.watcher = Watcher(manifests, self.trigger, options.mode)
        self._desired: DesiredState | None = None
        self._digest = ""
        self._notes: list[Problem] = []
        self._watch_ok = True
        self._deletes_first_planned: dict[Key, float] = {}
        self._undone = 0
        self._announced = ""  # the revision a "pending" notice was last sent for
        self._notified: RunRecord | None = None  # the failure last notified, until a success
        self._cache = loader.Cache()  # the last snapshot's files: a change re-validates what it changed
        self._loaded: loader.LoadResult | None = None  # the last valid snapshot, for what a change touched
        self._gateways: set[Key] | None = None  # what the current run reads and plans (None: all)

    # --- lifecycle --------------------------------------------------------------

    def run(self) -> int:
        """Serve the probes, hold the Lease if asked, reconcile on each trigger until a stop; exit status."""
        probes = {"/healthz": self.healthz, "/readyz": self.readyz, "/status": self.status}
        server = serve(self.options.metrics_addr, self.metrics, probes, detail=self.options.status_detail)
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
        reason = self.shutdown.reason
        log.info(
            "daemon.stopped",
            reason=reason.value if reason is not None else "",
            left_undone=self._undone,
            deletes_held=len(self._deletes_first_planned),
        )
        return 1 if reason is StopReason.LEASE_LOST else 0  # exit, to rejoin as a candidate

    def _lead(self) -> bool:
        """Wait for the Lease when electing (standing by, idle); False if shutdown came first."""
        if self.elector is not None and not self.elector.wait_for_leadership():
            return False
        self.metrics.leader.set(1)
        return True

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.shutdown.is_set():
            return
        log.info("daemon.stopping", signal=signal.Signals(signum).name, grace=self.options.grace)
        self.shutdown.set(StopReason.SIGNAL)
        # Whatever is still running when the grace period ends is cut off; exit 0 all the same.
        timer = threading.Timer(self.options.grace, os._exit, args=(0,))
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
        if self.runs.failures:
            backoff = min(resync, RETRY_FIRST * 2 ** (self.runs.failures - 1))
            runs.append((now + random.uniform(backoff / 2, backoff), Reason.RETRY))
        if self._deletes_first_planned:
            first = min(self._deletes_first_planned.values())
            runs.append((first + self.options.confirm_deletes, Reason.CONFIRM))
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
        started = time.monotonic()
        self.runs.begin()
        record: RunRecord | None = None
        try:
            record = self._run(reason)
        except Stopped:  # cut short by a stop (a signal, a lost or fenced Lease): no verdict
            log.info("reconcile.stopped", reason=reason.value)
        except ApiError as exc:
            log.error("reconcile.failed", reason=reason.value, error=exc.describe(), error_code=exc.code)
            record = self._record(RunResult.FAILURE, reason, failure=Failure(exc.describe(), code=exc.code))
        finally:
            self.runs.end(record)
        if record is not None:
            self._count(record, time.monotonic() - started)
            self._notify(record)
        structlog.contextvars.clear_contextvars()

    def _run(self, reason: Reason) -> RunRecord | None:
        """Read the snapshot, plan, apply, judge; None when a change event changed nothing."""
        loaded = self._load()
        if loaded is not None and loaded.digest == self._digest and reason is Reason.CHANGE:
            log.info("reconcile.skipped", reason="manifest content unchanged")
            return None
        before, before_settings = self._loaded, self.plan_settings
        drift = loaded is None or loaded.digest == self._digest  # writes now put back drift
        if loaded is not None:
            self._adopt(loaded)
        problems = tuple(self.runs.problems[:20])
        if self._desired is None:
            never = Failure("the manifests have never been valid", problems)
            return self._record(RunResult.INVALID, reason, failure=never)
        # With invalid manifests the last good state is still applied, but the run counts as invalid.
        invalid = None if loaded is not None else Failure("the manifests are invalid", problems)
        plan = self._plan(reason, self._desired, before, before_settings)
        return self._converge(reason, plan, invalid, drift)

    def _converge(self, reason: Reason, plan: Plan, invalid: Failure | None, drift: bool) -> RunRecord:
        """Apply the plan unless it is blocked, empty or suspended; the record says how it went."""
        done = RunResult.SUCCESS if invalid is None else RunResult.INVALID
        if plan.blocked:
            log.error("reconcile.blocked", reason="the plan has errors; nothing applied")
            found = [str(p) for p in errors(plan.findings)]
            blocked = Failure(f"the plan has errors: {'; '.join(found)[:2000]}", tuple(found[:20]))
            return self._record(RunResult.FAILURE, reason, plan, blocked)
        if self.plan_settings.suspend:  # planned, not applied (even when nothing differs): never "applied"
            log.warning("reconcile.suspended", **plan.counts())
            return self._record(RunResult.SUSPENDED if invalid is None else done, reason, plan, invalid)
        if not plan.has_changes:
            return self._record(done, reason, plan, invalid)
        report = self._apply(plan, drift)
        failure = self._judge(report)
        if failure is not None:
            return self._record(RunResult.FAILURE, reason, plan, failure, changed=True)
        return self._record(done, reason, plan, invalid, changed=True)

    def _adopt(self, loaded: loader.LoadResult) -> None:
        """A valid snapshot becomes the desired state, with the settings it declares."""
        self._desired, self._digest, self._loaded = loaded.state, loaded.digest, loaded
        self._notes = warnings(loaded.problems)
        self.plan_settings = settings_.resolve(loaded.settings, self.overrides)
        self.trigger.debounce = self.plan_settings.debounce

    def _plan(
        self,
        reason: Reason,
        desired: DesiredState,
        before: loader.LoadResult | None,
        before_settings: settings_.Settings,
    ) -> Plan:
        gateways = self._touched(reason, before, before_settings)
        plan = self.reconciler.plan(desired, self.plan_settings, self._notes, gateways)
        plan = self._held(plan, gateways)
        self._gateways = gateways
        for step in plan.steps:
            for action in step.actions:
                self.metrics.actions.labels(action.value).inc()
        for finding in plan.findings:
            log.warning("plan.finding", finding=str(finding))
        self.runs.suspended = self.plan_settings.suspend
        self.metrics.suspended.set(1 if self.plan_settings.suspend else 0)
        self._track(plan, None, self._gateways)
        if not plan.blocked:
            read = "all" if self._gateways is None else len(self._gateways)
            log.info("reconcile.planned", reason=reason.value, gateways=read, **plan.counts())
        return plan

    def _apply(self, plan: Plan, drift: bool) -> Report:
        revision = self.runs.attempted_revision
        if revision not in (self.runs.applied_revision, self._announced):
            self._announced = revision
            self.notifier.notice(RunNotice(revision, None, plan.counts(), [], ""))
        report = self.reconciler.apply(plan)
        self._track(plan, report, self._gateways)
        self._undone = report.count(Status.SKIPPED) if self.shutdown.is_set() else 0
        if drift:
            self.metrics.drift.inc(report.count(Status.DONE))
        log.info("reconcile.applied", ok=report.ok, outcomes=len(report.outcomes))
        self.shutdown.check()  # cut short by a stop: no verdict on the revision, and no notice
        return report

    def _judge(self, report: Report) -> Failure | None:
        """Why an apply failed: a step that failed, or a resource App Mesh reports as not ACTIVE."""
        if not report.ok:
            failed = [o for o in report.outcomes if o.status is Status.FAILED]
            error = "; ".join(f"{o.key}: {o.message}" for o in failed[:20]) or "steps were skipped"
            return Failure(error, tuple(o.key.address for o in failed))
        unhealthy = [o for o in report.outcomes if o.state not in HEALTHY]
        if not unhealthy:
            return None
        log.warning("apply.unhealthy", resources={o.key.address: str(o.state) for o in unhealthy})
        listed = ", ".join(f"{o.key} ({o.state})" for o in unhealthy)
        return Failure(f"not ACTIVE after the apply: {listed}", tuple(o.key.address for o in unhealthy))

    def _record(
        self,
        result: RunResult,
        reason: Reason,
        plan: Plan | None = None,
        failure: Failure | None = None,
        *,
        changed: bool = False,
    ) -> RunRecord:
        counts = plan.counts() if plan is not None else {}
        revision = self.runs.attempted_revision
        return RunRecord(result, reason, revision, time.time(), counts, failure, changed)

    def _count(self, record: RunRecord, seconds: float) -> None:
        result = record.result
        self.metrics.reconciles.labels(result.value).inc()
        self.metrics.duration.observe(seconds)
        for each in RunResult:
            self.metrics.last_result.labels(each.value).set(1 if each is result else 0)
        if result is RunResult.SUCCESS:
            self.metrics.last_success.set(record.finished)
            self.metrics.applied_revision.info({"revision": record.revision})

    def _notify(self, record: RunRecord) -> None:
        """A notice for each run that changed something, and for each distinct failure once."""
        if record.failure is None:
            self._notified = None  # a failure after a success is news again
            if not (record.result is RunResult.SUCCESS and record.changed):
                return
        elif self._told(record):
            return  # a retry of the failure already told
        else:
            self._notified = record
        reconcile_id = str(structlog.contextvars.get_contextvars().get("reconcile_id", ""))
        failing = list(record.failure.failing) if record.failure is not None else []
        self.notifier.notice(RunNotice(record.revision, record.result, record.counts, failing, reconcile_id))

    def _told(self, record: RunRecord) -> bool:
        last = self._notified
        if last is None or (last.result, last.revision) != (record.result, record.revision):
            return False
        return record.failure is not None and record.failure.same_as(last.failure)

    def _touched(
        self, reason: Reason, before: loader.LoadResult | None, before_settings: settings_.Settings
    ) -> set[Key] | None:
        """The gateways a change run reads and plans; None: every one.

        An edit costs what it changes: only the gateways whose manifests (or whose routes'
        manifests) changed are read again and planned. Every other run reads everything:
        the start, a resync (drift anywhere), a retry (a failure anywhere), a confirmation
        of held deletes, and a change of the settings, which can change any plan.
        """
        now = self._loaded
        if reason is not Reason.CHANGE or before is None or now is None or self.runs.failures:
            return None
        if before_settings != self.plan_settings:
            return None
        return touched(before.state, now.state, now.changed_keys(before))

    def _held(self, plan: Plan, gateways: set[Key] | None) -> Plan:
        """The plan less the deletes not yet planned from two snapshots far enough apart."""
        now = time.monotonic()
        planned = {s.key for s in plan.steps if Action.DELETE in s.actions}
        first = self._deletes_first_planned
        kept = {} if gateways is None else {k: t for k, t in first.items() if (k.parent or k) not in gateways}
        self._deletes_first_planned = kept | {k: first.get(k, now) for k in planned}
        waiting = {
            key
            for key, first in self._deletes_first_planned.items()
            if now - first < self.options.confirm_deletes
        }
        # A gateway waits as long as any of its routes does: it cannot go before them.
        waiting |= {k.parent for k in waiting if k.kind == ROUTE and k.parent in planned}
        if waiting:
            log.info(
                "reconcile.deletes_held",
                resources=sorted(k.address for k in waiting),
                confirm_after=self.options.confirm_deletes,
            )
        return hold_deletes(plan, waiting) if waiting else plan

    def _load(self) -> loader.LoadResult | None:
        """The current snapshot, read from one real path; None (and reported) when invalid."""
        for attempt in (1, 2):
            root, revision = snapshot_of(self.manifests)
            try:
                result = loader.load(root, cache=self._cache, shutdown=self.shutdown)
                self.runs.read(revision or f"sha256:{result.digest[:12]}")
                structlog.contextvars.bind_contextvars(revision=self.runs.attempted_revision)
                break
            except Stopped:
                raise
            except loader.SnapshotChanged as exc:
                log.info("manifests.changing", detail=str(exc), attempt=attempt)
                self.shutdown.wait(self.plan_settings.debounce)
            except Exception as exc:  # a loader bug must not kill the daemon
                log.exception("manifests.unreadable", error=repr(exc))
                self.runs.problems = [f"the manifests could not be read: {exc!r}"]
                return None
        else:
            self.runs.problems = ["the manifests kept changing while being read"]
            return None
        self.runs.problems = [str(p) for p in errors(result.problems)]
        self.metrics.manifest_errors.set(len(self.runs.problems))
        if result.ok:
            return result
        log.error("manifests.invalid", errors=self.runs.problems, keeping="last good state")
        return None

    # --- probes ----------------------------------------------------------------------

    def _leading(self) -> bool:
        return self.elector is None or self.elector.leading

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        """Alive: the watcher works, the Lease is renewed, and a run in progress makes progress."""
        lease_ok, lease = self.elector.healthy() if self.elector is not None else (True, {})
        if not self._leading():
            return lease_ok, lease  # a standby is healthy while its attempts go on
        progressing, stuck = self.runs.liveness(self.options.stuck_after)
        detail: dict[str, Any] = {
            "watcher": "alive" if self._watch_ok else "dead and could not be restarted",
            "watcher_restarts": self.watcher.restarts,
            **stuck,
        }
        if lease:
            detail["lease"] = lease
        return self._watch_ok and progressing and lease_ok, detail

    def status(self) -> tuple[bool, dict[str, Any]]:
        return True, self.runs.as_json(self._leading())

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        if not self._leading():  # a standby is ready to take over: a rollout may go on
            return True, {"role": "standby"}
        return self.runs.readiness(self.stall_after)

    @property
    def stall_after(self) -> float:
        """Seconds without an answer after which a run is hung: the longest a working call
        path is silent (timeouts, backoff, rate limit), plus the debounce."""
        return self.reconciler.mesh.longest_silence + self.plan_settings.debounce

    def _track(self, plan: Plan, report: Report | None, gateways: set[Key] | None) -> None:
        """What /status lists: a partial plan replaces the entries of the gateways it planned."""
        self.runs.track(_resources(plan, report), gateways, planned=report is None)


def _resources(plan: Plan, report: Report | None) -> dict[Key, dict[str, Any]]:
    """Each resource of the plan: identity, the last action and the service's status."""
    outcomes = {o.key: o for o in report.outcomes} if report is not None else {}
    out = {}
    for step in plan.steps:
        outcome = outcomes.get(step.key)
        if step.left_alone:
            action = "skipped"
        elif outcome is not None:
            action = f"{outcome.action.value} {outcome.status.value}"
        else:
            action = step.summary_action.value if report is None else Action.NOOP.value
        state = outcome.state if outcome is not None and outcome.state else step.live_state
        address = step.key.address
        status = state.value if state is not None else ""
        entry = {"identity": step.key.as_dict(), "address": address, "lastAction": action, "status": status}
        out[step.key] = entry
    return out
