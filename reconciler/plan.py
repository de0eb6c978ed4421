"""Desired state + live state → a plan. Pure: no I/O, deterministic order.

Every safety rule about what may change lives here, in one place: ownership,
adoption, the prune guards and the pre-flight checks. The executor only carries
out what a plan says; a plan with an error finding is never applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from . import mistakes, model
from .diff import Change, canonical, canonical_spec, changes, leaves
from .problems import Problem, Severity
from .resources import GATEWAY, ROUTE, Desired, DesiredState, Group, Key, Live, Scope, ServiceState, Source
from .settings import BOUNDARY, Settings, widens

RESERVED_TAG_PREFIX = "aws:"
NO_MESH = (
    "this plan manages no mesh: the manifests name none and the meshes setting is not set, so "
    "nothing was read or compared; to prune a mesh whose manifests are all removed, name it "
    "with the meshes setting or --mesh"
)


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    TAG = "tag"
    DELETE = "delete"
    NOOP = "no-op"


@dataclass(frozen=True)
class Step:
    key: Key
    actions: tuple[Action, ...]
    reason: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    tags_before: Mapping[str, str] | None = None
    tags_after: Mapping[str, str] | None = None
    changes: tuple[Change, ...] = ()
    arn: str | None = None
    version: int | None = None
    stamp: str = ""  # the live resource's lastUpdatedAt, for the cache a tag-only change keeps
    source: Source | None = None
    live_state: ServiceState | None = None  # the service's status.status when planned
    left_alone: bool = False  # left alone on purpose (reconcile: disabled)
    # What the manifest asks for: a create that meets an existing resource is planned again from it.
    want: Desired | None = field(default=None, compare=False, repr=False)

    @property
    def summary_action(self) -> Action:
        """The one word a summary counts this step under: a tag-only change is an update."""
        if not self.actions:
            return Action.NOOP
        first = self.actions[0]
        return Action.UPDATE if first is Action.TAG else first


@dataclass
class Plan:
    settings: Settings
    steps: list[Step] = field(default_factory=list)
    findings: list[Problem] = field(default_factory=list)
    meshes: list[Scope] = field(default_factory=list)  # the meshes it manages: read, planned, pruned
    # What a change to the tree's settings changes (the offline diff of two trees).
    settings_changes: list[tuple[str, Any, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(step.summary_action for step in self.steps)
        return {a.value: found[a] for a in (Action.CREATE, Action.UPDATE, Action.DELETE, Action.NOOP)}

    @property
    def has_changes(self) -> bool:
        return any(step.actions for step in self.steps)

    @property
    def blocked(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self.findings)

    @property
    def boundary_changes(self) -> list[tuple[str, Any, Any, bool]]:
        """Changes of owner, meshes or prune (``name, before, after, widens``): plans lead with them."""
        return [(n, b, a, widens(n, b, a)) for n, b, a in self.settings_changes if n in BOUNDARY]


def make_plan(
    desired: DesiredState,
    live: Mapping[Key, Live],
    settings: Settings,
    notes: Sequence[Problem] = (),
    gateways: AbstractSet[Key] | None = None,
) -> Plan:
    """``notes``: what loading the manifests found short of an error, shown with the plan.

    ``gateways``: plan only these gateways and their routes, from ``live`` read for them
    alone (a daemon's change run); the rest of ``desired`` still counts where a rule
    looks at a whole mesh (the empty-mesh guard, the gateways-per-mesh quota).
    """
    plan = Plan(settings, findings=[*settings.problems, *notes])
    groups = None if gateways is None else {g.group for g in gateways}
    wanted = _managed(desired, settings, plan.findings, groups)
    live = {
        k: v for k, v in live.items() if settings.manages(k.scope) and (groups is None or k.group in groups)
    }
    for key in sorted(wanted.resources, key=Key.rank):
        plan.steps.append(_step(wanted.resources[key], live.get(key), settings, plan.findings))
    plan.steps += _prune(wanted, live, settings, plan.findings)
    plan.meshes = sorted(wanted.scopes if settings.meshes is None else settings.meshes)
    if not plan.meshes:
        plan.findings.append(Problem(NO_MESH, severity=Severity.WARNING))
    plan.findings += _preflight(wanted, live, plan, None if groups is None else desired)
    return plan


def _managed(
    desired: DesiredState, settings: Settings, findings: list[Problem], groups: set[Group] | None
) -> DesiredState:
    """Only the meshes this instance manages (settings ``meshes``); the rest is left alone.

    With ``groups``, only the resources of those gateways; ``scopes`` stays every managed
    mesh the manifests name, for the empty-mesh guard.
    """
    kept = DesiredState(scopes={scope for scope in desired.scopes if settings.manages(scope)})
    resources = desired.resources if groups is None else desired.of_gateways(groups)
    for key, want in resources.items():
        if settings.manages(key.scope):
            kept.resources[key] = want
        else:
            message = f"mesh {key.scope} is not among the meshes this instance manages; left alone"
            findings.append(Problem.at(want.source, message, "metadata.mesh", Severity.WARNING))
    return kept


def rescope(
    desired: DesiredState, settings: Settings, same: Mapping[Scope, Scope]
) -> tuple[DesiredState, Settings, list[Problem]]:
    """Manifests and settings with every mesh under one spelling (``same``: scope → its identity).

    ``meshOwner`` naming the account in use is that account's mesh, not a second one. Two
    manifests that now name one resource are an error, as any identity written twice is.
    """
    if all(scope == identity for scope, identity in same.items()):
        return desired, settings, []  # one spelling already: nothing to copy
    out = DesiredState()
    problems: list[Problem] = []
    for key, want in desired.resources.items():
        scope = same.get(key.scope, key.scope)
        new_key = Key(scope, key.gateway, key.kind, key.name)
        first = out.resources.get(new_key)
        if first is not None:
            message = f"{new_key} is defined twice (also in {first.source}); meshOwner is the account in use"
            problems.append(Problem.at(want.source, message, "metadata.meshOwner"))
            continue
        out.resources[new_key] = replace(want, key=new_key)
        out.scopes.add(scope)
    meshes = None if settings.meshes is None else frozenset(same.get(s, s) for s in settings.meshes)
    return out, replace(settings, meshes=meshes), problems


def hold_deletes(plan: Plan, keys: set[Key]) -> Plan:
    """``plan`` with the deletes of ``keys`` held back: those steps become no-ops saying why."""
    steps = [
        replace(step, actions=(), reason="delete held until a second snapshot confirms it", changes=())
        if step.key in keys and Action.DELETE in step.actions
        else step
        for step in plan.steps
    ]
    return replace(plan, steps=steps)


def owned_tags(tags: Mapping[str, str], owner: str) -> dict[str, str]:
    """The tags a managed resource carries: the manifest's plus the owner tag."""
    return {**tags, model.OWNER_TAG: owner}


def comparable_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith(RESERVED_TAG_PREFIX)}


def _wanted_tags(want: Desired, owner: str) -> dict[str, str]:
    """The manifest's tags, the owner tag, and the prune opt-out kept as a tag on the resource."""
    tags = owned_tags(want.tags, owner)
    if want.annotations.get(model.PRUNE_ANNOTATION) == model.DISABLED:
        tags[model.PRUNE_TAG] = model.DISABLED
    return tags


def _step(want: Desired, have: Live | None, options: Settings, findings: list[Problem]) -> Step:
    """What one desired resource needs: nothing (left alone), a create, or what differs."""
    if want.annotations.get(model.RECONCILE_ANNOTATION) == model.DISABLED:
        return _left_alone(want, have)
    if have is None:
        return _create(want, _wanted_tags(want, options.owner))
    return _compare(want, have, options, findings)


def _left_alone(want: Desired, have: Live | None) -> Step:
    """``reconcile: disabled``: shown in the plan, never touched."""
    reason = f"left alone: {model.RECONCILE_ANNOTATION} is {model.DISABLED}"
    if have is not None:
        return Step(
            want.key,
            (),
            reason,
            before=have.spec,
            after=have.spec,
            source=want.source,
            arn=have.arn,
            live_state=have.state,
            left_alone=True,
        )
    return Step(
        want.key, (), reason + " (it does not exist in App Mesh)", source=want.source, left_alone=True
    )


def _create(want: Desired, tags_after: dict[str, str]) -> Step:
    return Step(
        want.key,
        (Action.CREATE,),
        "absent from App Mesh",
        after=want.spec,
        tags_after=tags_after,
        changes=_whole(canonical(want.spec), tags_after, appears=True),
        source=want.source,
        want=want,
    )


def _compare(want: Desired, have: Live, options: Settings, findings: list[Problem]) -> Step:
    """An existing resource: left alone when another owner holds it, else what differs."""
    tags_after = _wanted_tags(want, options.owner)
    tags_before = comparable_tags(have.tags or {})
    holder = tags_before.get(model.OWNER_TAG)
    common: dict[str, Any] = {
        "before": have.spec,
        "tags_before": tags_before,
        "arn": have.arn,
        "version": have.version,
        "stamp": have.stamp,
        "source": want.source,
        "live_state": have.state,
    }
    if holder is not None and holder != options.owner:
        findings.append(
            Problem.at(
                want.source, f"owned by reconciler owner {holder!r}, not {options.owner!r}; left alone"
            )
        )
        return Step(want.key, (), f"owned by {holder!r}", after=have.spec, tags_after=tags_before, **common)
    # Equal as written is equal as compared: canonical forms are only needed where they differ.
    same = have.spec == want.spec
    spec_changes = [] if same else changes(canonical_spec(have.spec), canonical_spec(want.spec), "spec")
    tag_changes = changes(tags_before, tags_after, "tags")
    actions = tuple(a for a, needed in ((Action.UPDATE, spec_changes), (Action.TAG, tag_changes)) if needed)
    if holder is None:
        reason = "adopt: exists but is not yet owned by this reconciler"
    elif spec_changes:
        reason = "spec differs from the manifest"
    elif tag_changes:
        reason = "tags differ from the manifest"
    else:
        reason = "up to date"
    changed = tuple(spec_changes + tag_changes)
    return Step(want.key, actions, reason, after=want.spec, tags_after=tags_after, changes=changed, **common)


def replan(want: Desired, have: Live, settings: Settings) -> tuple[Step, list[Problem]]:
    """A resource planned against what exists, by the same rules as a whole plan.

    For a create answered 409 (the resource appeared after the List): another owner's
    resource is refused (an error finding), an unowned one is adopted as a plan would.
    """
    findings: list[Problem] = []
    return _step(want, have, settings, findings), findings


def _prune(
    desired: DesiredState, live: Mapping[Key, Live], options: Settings, findings: list[Problem]
) -> list[Step]:
    """Deletes, only of resources carrying our owner tag, and only past every guard."""
    if not options.prune:
        return []
    owned = sorted(
        (
            have
            for key, have in live.items()
            if key not in desired.resources and (have.tags or {}).get(model.OWNER_TAG) == options.owner
        ),
        key=lambda have: have.key.rank(),
    )
    candidates = []
    for have in owned:
        if (have.tags or {}).get(model.PRUNE_TAG) == model.DISABLED:
            message = f"{have.key} is kept: its {model.PRUNE_TAG} tag is {model.DISABLED}"
            findings.append(Problem(message, severity=Severity.WARNING))
        else:
            candidates.append(have)
    deletable = {have.key for have in candidates}
    steps = []
    for have in candidates:
        blocker = _delete_blocker(have.key, desired, live, deletable)
        if blocker:
            findings.append(Problem(f"{have.key} is not deleted: {blocker}", severity=Severity.WARNING))
            continue
        tags = comparable_tags(have.tags or {})
        steps.append(
            Step(
                have.key,
                (Action.DELETE,),
                f"absent from the manifests and owned by {options.owner!r}",
                before=have.spec,
                tags_before=tags,
                changes=_whole(canonical(have.spec), tags, appears=False),
                arn=have.arn,
                version=have.version,
                stamp=have.stamp,
                live_state=have.state,
            )
        )
    return _guard_deletes(steps, desired, options, findings)


def _whole(spec: Any, tags: Mapping[str, str], *, appears: bool) -> tuple[Change, ...]:
    """Every field of a resource that is created (appears) or deleted, as field changes."""
    fields = leaves(spec, "spec") + leaves(dict(tags), "tags")
    return tuple(Change(p, None, v) if appears else Change(p, v, None) for p, v in fields)


def _delete_blocker(key: Key, desired: DesiredState, live: Mapping[Key, Live], deletable: set[Key]) -> str:
    if key.kind != GATEWAY:
        return ""
    kept = sorted(k.name for k in live if k.parent == key and k not in deletable)
    kept += sorted(k.name for k in desired.resources if k.parent == key)
    return f"routes that will remain still use it ({', '.join(kept)})" if kept else ""


def _guard_deletes(
    steps: list[Step], desired: DesiredState, options: Settings, findings: list[Problem]
) -> list[Step]:
    if not steps:
        return []
    empty = sorted({s.key.scope for s in steps} - desired.scopes)
    if empty and not options.allow_empty:
        names = ", ".join(str(scope) for scope in empty)
        findings.append(
            Problem(
                f"refusing to prune mesh {names}: the manifests name nothing in it "
                "(an empty manifest set deletes only with allowEmpty)"
            )
        )
        return []
    if len(steps) > options.max_deletes:
        findings.append(
            Problem(
                f"refusing to delete {len(steps)} resources in one run, more than "
                f"maxDeletes {options.max_deletes} ({options.origin('max_deletes')})"
            )
        )
        return []
    return steps


def _preflight(
    desired: DesiredState, live: Mapping[Key, Live], plan: Plan, whole: DesiredState | None
) -> list[Problem]:
    """Routes whose gateway will be missing or unfit, and quotas; ``whole``: the tree of a partial plan."""
    deleted = {s.key for s in plan.steps if Action.DELETE in s.actions}
    final = {
        **{k: v.spec for k, v in live.items() if k not in deleted},
        **{k: v.spec for k, v in desired.resources.items()},
    }
    by_key: list[tuple[Key, Problem]] = []
    for key, want in desired.resources.items():
        if key.kind != ROUTE:
            continue
        parent = key.parent
        assert parent is not None
        if parent not in final:
            message = (
                f"virtual gateway {key.gateway!r} exists neither in the manifests nor in mesh {key.scope}"
            )
            by_key.append((key, Problem.at(want.source, message, "metadata.virtualGateway")))
            continue
        for f in mistakes.route_against_gateway(want.spec, final[parent]):
            by_key.append((key, Problem.at(want.source, f.message, f.path, Severity.WARNING)))
    by_key.sort(key=lambda kp: kp[0].rank())  # stable: a route's findings keep their order
    return [p for _, p in by_key] + _quotas(final, whole)


def _quotas(final: Mapping[Key, Any], whole: DesiredState | None) -> list[Problem]:
    """App Mesh's default quotas; a partial plan also counts the gateways its meshes' manifests name."""
    routes = Counter(k.group for k in final if k.kind == ROUTE)
    gateways = Counter(k.scope for k in final if k.kind == GATEWAY)
    if whole is not None:
        gateways.update(k.scope for k in whole.gateways_in({k.scope for k in final}) if k not in final)
    over = [
        (Key.gateway_key(scope, gateway), n)
        for (scope, gateway), n in routes.items()
        if n > mistakes.ROUTES_PER_GATEWAY
    ]
    out = [
        Problem(
            f"{parent} would have {n} gateway routes; App Mesh's default quota is "
            f"{mistakes.ROUTES_PER_GATEWAY} per virtual gateway",
            severity=Severity.WARNING,
        )
        for parent, n in sorted(over, key=lambda kv: str(kv[0]))
    ]
    out += [
        Problem(
            f"mesh {scope} would have {n} virtual gateways; App Mesh's default quota is "
            f"{mistakes.GATEWAYS_PER_MESH} per mesh",
            severity=Severity.WARNING,
        )
        for scope, n in sorted(gateways.items())
        if n > mistakes.GATEWAYS_PER_MESH
    ]
    return out
