"""Carry out a plan: idempotent calls, dependency order, bounded concurrency.

A gateway is created or updated before its routes; routes are deleted before
their gateway. A step starts as soon as the steps it depends on succeeded and is
skipped if one of them failed; one failure never stops unrelated work. Every
create and update carries a client token derived from what the call asks for, so
a retried or replayed call is the same call.

Scheduling is linear in the plan: completions arrive on a queue, and a parent →
dependents index releases exactly the steps a completion unblocks. After shutdown
begins no step starts; waits inside the App Mesh client give up with ``Stopped``.
"""

from __future__ import annotations

import hashlib
import json
import queue
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import structlog

from .appmesh_client import AppMesh
from .diff import canonical
from .errors import ApiError, Conflict, LimitExceeded, NotFound
from .gcpause import paused_gc
from .live import LiveReader
from .outcomes import Done, Outcome, Report, Status
from .plan import Action, Plan, Step, comparable_tags, replan
from .problems import errors
from .resources import GATEWAY, ROUTE, Key, Live, Scope, ServiceState
from .settings import Settings
from .shutdown import Shutdown, Stopped
from .threads import parallel_map, submit

log = structlog.get_logger("reconciler.apply")

QUOTA_NAMES = {GATEWAY: "Virtual gateways per mesh", ROUTE: "Gateway routes per virtual gateway"}


class HeldElsewhere(Exception):
    """A create met a resource (409) that another owner's tag marks: it is left alone."""


def client_token(
    operation: str, key: Key, body: Mapping[str, Any], version: int | None = None, salt: int = 0
) -> str:
    """≤ 36 of [A-Za-z0-9_-], the same for the same call: operation, identity, normalised body, version.

    ``salt`` tells apart a second create of a resource that was deleted since the first
    (see ``Executor._confirm_creates``): the same token would only replay the old answer.
    """
    material = json.dumps([operation, key.as_dict(), canonical(dict(body)), version, salt], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:36]


class Executor:
    def __init__(self, mesh: AppMesh, reader: LiveReader, shutdown: Shutdown) -> None:
        self.mesh = mesh
        self.reader = reader
        self.shutdown = shutdown

    def apply(self, plan: Plan, on_done: Callable[[Outcome], None] | None = None) -> Report:
        if plan.blocked:
            raise ValueError("a plan with errors is never applied")
        with paused_gc():
            return self._apply(plan, on_done)

    def _apply(self, plan: Plan, on_done: Callable[[Outcome], None] | None) -> Report:
        steps = {s.key: s for s in plan.steps if s.actions}
        graph = _Graph.of(steps)
        blockers = graph.blockers
        report = Report()
        finished: queue.SimpleQueue[Outcome] = queue.SimpleQueue()

        def record(outcome: Outcome) -> None:
            report.outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        with ThreadPoolExecutor(max_workers=self.mesh.workers) as pool:

            def run(step: Step) -> Outcome:
                return self._run(step, plan.settings)

            def start(key: Key) -> None:
                future = submit(pool, run, steps[key])
                future.add_done_callback(lambda f: finished.put(f.result()))

            ready = sorted(k for k, n in blockers.items() if n == 0)
            for key in ready:
                start(key)
            running = len(ready)
            while running:
                outcome = finished.get()
                running -= 1
                record(outcome)
                for child in graph.dependents.get(outcome.key, ()):
                    if child not in blockers:
                        continue  # skipped already, through another failure
                    if outcome.status is not Status.DONE:
                        self._skip(child, outcome.key, steps, graph, record)
                        continue
                    blockers[child] -= 1
                    if blockers[child] == 0:
                        start(child)
                        running += 1
        if not self.shutdown.is_set():
            self._confirm_creates(steps, report, plan.settings)
        return report

    def _skip(
        self,
        key: Key,
        failed: Key,
        steps: Mapping[Key, Step],
        graph: _Graph,
        record: Callable[[Outcome], None],
    ) -> None:
        if graph.blockers.pop(key, None) is None:
            return  # already skipped through another failure
        record(Outcome(key, steps[key].summary_action, Status.SKIPPED, f"skipped: {failed} did not succeed"))
        for child in graph.dependents.get(key, ()):
            self._skip(child, key, steps, graph, record)

    def _confirm_creates(self, steps: Mapping[Key, Step], report: Report, settings: Settings) -> None:
        """Check with one List per gateway (or mesh) that every acknowledged create exists.

        A service that honours client tokens answers a token it has seen with the first
        answer again. After the resource was deleted (by a prune, or in the console), the
        same create would be acknowledged without creating anything, on every run. Such
        a create is made again with a salted token.
        """
        groups: dict[tuple[Scope, str, str], list[int]] = {}
        for index, outcome in enumerate(report.outcomes):
            if outcome.done is Done.CREATED:
                key = outcome.key
                parent = "" if key.kind == GATEWAY else key.gateway
                groups.setdefault((key.scope, key.kind, parent), []).append(index)

        def present(group: tuple[Scope, str, str]) -> set[Key]:
            return {summary.key for summary in self.mesh.summaries(*group)}

        found = dict(zip(groups, parallel_map(present, groups, self.mesh.workers), strict=True))
        for group, indexes in sorted(groups.items(), key=lambda kv: str(kv[0])):
            for index in indexes:
                key = report.outcomes[index].key
                if key not in found[group]:
                    log.warning("apply.replayed_create", resource=key.address)
                    report.outcomes[index] = self._run(steps[key], settings, salt=1)

    def _run(self, step: Step, settings: Settings, salt: int = 0) -> Outcome:
        action = step.summary_action
        try:
            self.shutdown.check()  # shutting down: start nothing new
            done, message, state = self._carry_out(step, settings, salt)
        except Stopped:
            return Outcome(step.key, action, Status.SKIPPED, "skipped: shutting down")
        except HeldElsewhere as exc:
            log.warning("apply.refused", resource=step.key.address, action=action.value, reason=str(exc))
            return Outcome(step.key, action, Status.FAILED, str(exc), "ConflictException")
        except ApiError as exc:
            if self.shutdown.is_set():  # its retries were cut short by the shutdown
                return Outcome(step.key, action, Status.SKIPPED, "skipped: shutting down", exc.code)
            message = exc.describe()
            if isinstance(exc, LimitExceeded):
                message = f"service quota reached: {QUOTA_NAMES[step.key.kind]} ({exc})"
            log.warning("apply.failed", resource=step.key.address, action=action.value, error_code=exc.code)
            return Outcome(step.key, action, Status.FAILED, message, exc.code)
        log.info("apply.done", resource=step.key.address, action=action.value, detail=message)
        return Outcome(step.key, action, Status.DONE, message, done=done, state=state)

    def _carry_out(self, step: Step, settings: Settings, salt: int) -> tuple[Done, str, ServiceState | None]:
        if Action.DELETE in step.actions:
            return self._delete(step)
        if Action.CREATE in step.actions:
            return self._create(step, settings, salt)
        assert step.arn is not None
        assert step.version is not None  # planned against a live resource
        tags = dict((step.tags_after if Action.TAG in step.actions else step.tags_before) or {})
        state = step.live_state
        # Tags first: adopting puts the owner tag on, and the role's updates are allowed only
        # on resources carrying it (deploy/iam/sidecar-policy.json, aws:ResourceTag).
        if Action.TAG in step.actions:
            self._tags(step.arn, step.tags_before or {}, tags)
            if Action.UPDATE not in step.actions:  # the version and stamp stay; only the tags moved
                unchanged = Live(step.key, step.before or {}, step.arn, step.version, tags, step.stamp)
                self.reader.remember(unchanged)
        if Action.UPDATE in step.actions:
            state = self._update(step.key, step.after or {}, step.version, tags)
        return Done.CHANGED, step.reason, state

    def _create(self, step: Step, settings: Settings, salt: int) -> tuple[Done, str, ServiceState | None]:
        spec, tags = step.after or {}, step.tags_after or {}
        token = client_token("create", step.key, {"spec": spec, "tags": tags}, salt=salt)
        try:
            live = self.mesh.create(step.key, spec, tags, token)
        except Conflict:
            return self._converge_existing(step, settings)
        self.reader.remember(live)
        return Done.CREATED, "created", live.state

    def _converge_existing(self, step: Step, settings: Settings) -> tuple[Done, str, ServiceState | None]:
        """409 on create: the resource exists (made out of band, or by a lost earlier answer).

        It is read again and planned by the planner's own rules, never adopted blindly:
        another owner's resource is refused with that owner named; an unowned one (or
        our own) is converged and adopted, as a plan made a moment later would have.
        """
        assert step.want is not None  # every create is planned from a manifest
        live = self.mesh.describe(step.key)
        have = replace(live, tags=self.mesh.tags(live.arn))
        again, findings = replan(step.want, have, settings)
        refused = errors(findings)
        if refused:
            raise HeldElsewhere(f"already existed, {refused[0].message}")
        if not again.actions:
            self.reader.remember(have)
            return Done.ADOPTED, "already existed; it matched and adopted", live.state
        _done, _message, state = self._carry_out(again, settings, salt=0)
        how = "updated to match" if Action.UPDATE in again.actions else "it matched"
        return Done.ADOPTED, f"already existed; {how} and adopted", state

    def _update(
        self, key: Key, spec: Mapping[str, Any], version: int, tags: Mapping[str, str]
    ) -> ServiceState | None:
        """Update the spec; returns the service's status of the resource after it."""
        token = client_token("update", key, {"spec": spec}, version)
        live = self.mesh.update(key, spec, token)
        self.reader.remember(replace(live, tags=dict(tags)))
        return live.state

    def _tags(self, arn: str, before: Mapping[str, str], after: Mapping[str, str]) -> None:
        current = comparable_tags(before)
        add = {k: v for k, v in after.items() if current.get(k) != v}
        remove = sorted(k for k in current if k not in after)
        if add:
            self.mesh.tag(arn, add)
        if remove:
            self.mesh.untag(arn, remove)

    def _delete(self, step: Step) -> tuple[Done, str, ServiceState | None]:
        try:
            self.mesh.delete(step.key)
        except NotFound:
            return Done.ALREADY_GONE, "already gone", ServiceState.DELETED
        finally:
            if step.arn:
                self.reader.forget(step.arn)
        return Done.DELETED, "deleted", ServiceState.DELETED


@dataclass
class _Graph:
    """Who waits for whom: a route for its gateway on the way up, a gateway for its routes on the way down."""

    dependents: dict[Key, list[Key]]  # the steps each step's success releases
    blockers: dict[Key, int]  # how many steps each step still waits for

    @classmethod
    def of(cls, steps: Mapping[Key, Step]) -> _Graph:
        """The graph of a plan's steps: a gateway created before its routes, deleted after them."""
        graph = cls({}, dict.fromkeys(steps, 0))
        for key, step in steps.items():
            parent = key.parent
            if parent is None or parent not in steps:
                continue
            parent_deleted = Action.DELETE in steps[parent].actions
            if Action.DELETE in step.actions and parent_deleted:
                graph.link(key, parent)  # the gateway goes after its routes
            elif Action.DELETE not in step.actions and not parent_deleted:
                graph.link(parent, key)  # the route after its gateway
        for children in graph.dependents.values():
            children.sort()
        return graph

    def link(self, first: Key, then: Key) -> None:
        self.dependents.setdefault(first, []).append(then)
        self.blockers[then] += 1
