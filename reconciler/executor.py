"""Carry out a plan: idempotent calls, dependency order, bounded concurrency.

A gateway is created or updated before its routes; routes are deleted before
their gateway. A step starts as soon as the steps it depends on succeeded and is
skipped if one of them failed; one failure never stops unrelated work. Every
create and update carries a client token derived from what the call asks for, so
a retried or replayed call is the same call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import structlog

from .adapter import AppMesh
from .diff import canonical, canonical_spec
from .errors import ApiError, Failure
from .live import LiveReader
from .plan import Action, Plan, Step, comparable_tags
from .resources import GATEWAY, ROUTE, Key, Scope
from .threads import parallel_map, submit

log = structlog.get_logger("reconciler.apply")

QUOTA_NAMES = {GATEWAY: "Virtual gateways per mesh", ROUTE: "Gateway routes per virtual gateway"}


CREATED = "created"


class Status(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    key: Key
    action: Action
    status: Status
    message: str = ""
    error_code: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status is Status.DONE for o in self.outcomes)

    def count(self, status: Status, action: Action | None = None) -> int:
        return sum(1 for o in self.outcomes if o.status is status and action in (None, o.action))


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
    def __init__(self, mesh: AppMesh, reader: LiveReader) -> None:
        self.mesh = mesh
        self.reader = reader

    def apply(self, plan: Plan, on_done: Callable[[Outcome], None] | None = None) -> Report:
        if plan.blocked:
            raise ValueError("a plan with errors is never applied")
        steps = {s.key: s for s in plan.steps if s.actions}
        waiting = {key: _dependencies(step, steps) for key, step in steps.items()}
        report = Report()

        def record(outcome: Outcome) -> None:
            report.outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        with ThreadPoolExecutor(max_workers=self.mesh.workers) as pool:
            running: dict[Future[Outcome], Key] = {}

            def release() -> None:
                for key in sorted(k for k, deps in waiting.items() if not deps):
                    del waiting[key]
                    running[submit(pool, self._run, steps[key])] = key

            release()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    outcome = future.result()
                    record(outcome)
                    if outcome.status is Status.DONE:
                        for deps in waiting.values():
                            deps.discard(key)
                    else:
                        self._skip_dependents(key, waiting, steps, record)
                release()
        if not self.mesh.retrier.stopping.is_set():
            self._confirm_creates(steps, report)
        return report

    def _confirm_creates(self, steps: Mapping[Key, Step], report: Report) -> None:
        """Check with one List per gateway (or mesh) that every acknowledged create exists.

        A service that honours client tokens answers a token it has seen with the first
        answer again. After the resource was deleted (by a prune, or in the console), the
        same create would be acknowledged without creating anything, on every run. Such
        a create is made again with a salted token.
        """
        groups: dict[tuple[Scope, str, str], list[Outcome]] = {}
        for outcome in report.outcomes:
            if outcome.status is Status.DONE and outcome.message == CREATED:
                key = outcome.key
                parent = "" if key.kind == GATEWAY else key.gateway
                groups.setdefault((key.scope, key.kind, parent), []).append(outcome)

        def present(group: tuple[Scope, str, str]) -> set[Key]:
            return {summary.key for summary in self.mesh.summaries(*group)}

        found = dict(zip(groups, parallel_map(present, groups, self.mesh.workers), strict=True))
        for group, outcomes in sorted(groups.items(), key=lambda kv: str(kv[0])):
            for outcome in outcomes:
                if outcome.key not in found[group]:
                    log.warning("apply.replayed_create", resource=outcome.key.address)
                    index = report.outcomes.index(outcome)
                    report.outcomes[index] = self._run(steps[outcome.key], salt=1)

    def _skip_dependents(
        self,
        failed: Key,
        waiting: dict[Key, set[Key]],
        steps: dict[Key, Step],
        record: Callable[[Outcome], None],
    ) -> None:
        for key in sorted(k for k, deps in waiting.items() if failed in deps):
            if key not in waiting:
                continue  # already skipped through another failure
            del waiting[key]
            record(
                Outcome(key, steps[key].summary_action, Status.SKIPPED, f"skipped: {failed} did not succeed")
            )
            self._skip_dependents(key, waiting, steps, record)

    def _run(self, step: Step, salt: int = 0) -> Outcome:
        action = step.summary_action
        if self.mesh.retrier.stopping.is_set():  # shutting down: start nothing new
            return Outcome(step.key, action, Status.SKIPPED, "skipped: shutting down")
        try:
            message = self._carry_out(step, salt)
        except ApiError as exc:
            message = exc.describe()
            if exc.failure is Failure.LIMIT_EXCEEDED:
                message = f"service quota reached: {QUOTA_NAMES[step.key.kind]} ({exc})"
            log.warning("apply.failed", resource=step.key.address, action=action.value, error_code=exc.code)
            return Outcome(step.key, action, Status.FAILED, message, exc.code)
        log.info("apply.done", resource=step.key.address, action=action.value, detail=message)
        return Outcome(step.key, action, Status.DONE, message)

    def _carry_out(self, step: Step, salt: int) -> str:
        if Action.DELETE in step.actions:
            return self._delete(step)
        if Action.CREATE in step.actions:
            return self._create(step, salt)
        assert step.arn is not None
        assert step.version is not None  # planned against a live resource
        if Action.UPDATE in step.actions:
            self._update(step.key, step.after or {}, step.version)
        if Action.TAG in step.actions:
            self._tags(step.arn, step.tags_before or {}, step.tags_after or {})
        return step.reason

    def _create(self, step: Step, salt: int) -> str:
        spec, tags = step.after or {}, step.tags_after or {}
        token = client_token("create", step.key, {"spec": spec, "tags": tags}, salt=salt)
        try:
            live = self.mesh.create(step.key, spec, tags, token)
        except ApiError as exc:
            if exc.failure is not Failure.CONFLICT:
                raise
            return self._converge_existing(step)
        self.reader.forget(live.arn)
        return CREATED

    def _converge_existing(self, step: Step) -> str:
        """409 on create: the resource exists (made out of band, or by a lost earlier answer)."""
        live = self.mesh.describe(step.key)
        live_tags = self.mesh.tags(live.arn)
        updated = canonical_spec(live.spec) != canonical_spec(step.after or {})
        if updated:
            self._update(step.key, step.after or {}, live.version)
        self._tags(live.arn, live_tags, step.tags_after or {})
        return "already existed; " + ("updated to match" if updated else "it matched") + " and adopted"

    def _update(self, key: Key, spec: Mapping[str, Any], version: int) -> None:
        token = client_token("update", key, {"spec": spec}, version)
        self.reader.forget(self.mesh.update(key, spec, token).arn)

    def _tags(self, arn: str, before: Mapping[str, str], after: Mapping[str, str]) -> None:
        current = comparable_tags(before)
        add = {k: v for k, v in after.items() if current.get(k) != v}
        remove = sorted(k for k in current if k not in after)
        if add:
            self.mesh.tag(arn, add)
        if remove:
            self.mesh.untag(arn, remove)
        self.reader.forget(arn)

    def _delete(self, step: Step) -> str:
        try:
            self.mesh.delete(step.key)
        except ApiError as exc:
            if exc.failure is not Failure.NOT_FOUND:
                raise
            return "already gone"
        if step.arn:
            self.reader.forget(step.arn)
        return "deleted"


def _dependencies(step: Step, steps: Mapping[Key, Step]) -> set[Key]:
    """Keys that must succeed first: a route's gateway on the way up, a gateway's routes on the way down."""
    if Action.DELETE in step.actions:
        return {k for k, s in steps.items() if k.parent == step.key and Action.DELETE in s.actions}
    parent = step.key.parent
    if parent is not None and parent in steps and Action.DELETE not in steps[parent].actions:
        return {parent}
    return set()
