"""Emission for targets that evaluate rules in list order (VPC Lattice).

Such a target ignores the spec's precedence, and each route becomes a service of its own with
its own domain name. So the routes of one gateway, listener and hostname are written as one
route whose rules keep App Mesh's order, one match per rule; a route the target refuses is left
out, because one refused rule fails the whole merged route; the rules-per-listener quota is
checked on the merged route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...resources import Key
from ..gatewayapi import API_VERSION, SOURCE_ANNOTATION, Converted
from .check import ROUTE_KINDS, Found, Hit, RouteView, finding
from .profiles import Feature, Profile

# "gateway route match is performed in the order of specified value, where 0 is the highest
# priority, and first matched gateway route is selected" (AWS CDK, HttpGatewayRouteSpecOptions
# .priority); a route without one counts as the lowest, 1000, as App Mesh's Kubernetes
# controller documents it (issue #22).
UNPRIORITISED = 1000

_NOT_IN_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class _Group:
    namespace: str
    kind: str
    parent: tuple[tuple[str, Any], ...]
    hostnames: tuple[str, ...]


def merge(
    profile: Profile, objects: list[Converted], views: list[RouteView], refused: set[Key]
) -> tuple[list[Converted], list[Found]]:
    """``objects`` with the routes merged per gateway, listener and hostname; what merging finds."""
    by_key = {v.key: v for v in views}
    groups: dict[_Group, list[Converted]] = {}
    kept: list[Converted] = []
    for obj in objects:
        if obj.kind in ROUTE_KINDS and obj.source in by_key:
            if obj.source not in refused:
                groups.setdefault(_group_of(obj), []).append(obj)
        elif obj.source not in refused:
            kept.append(obj)
    names: set[tuple[str, str]] = set()
    findings: list[Found] = []
    domains: dict[tuple[str, str], Converted] = {}  # (kind, custom domain) -> the route that has it
    for group, routes in groups.items():
        ordered = sorted(routes, key=_appmesh_order)
        merged = _merged(group, ordered, names)
        kept.append(merged)
        findings.extend(_quota(profile, merged, [by_key[r.source] for r in ordered]))
        findings.extend(
            _domain_conflict(profile, group, merged, [by_key[r.source] for r in ordered], domains)
        )
    return kept, findings


def _group_of(obj: Converted) -> _Group:
    spec = obj.body["spec"]
    parent = tuple(sorted(spec["parentRefs"][0].items()))
    return _Group(obj.namespace, obj.kind, parent, tuple(spec.get("hostnames") or ()))


def _appmesh_order(obj: Converted) -> tuple[int, int, tuple[Any, ...]]:
    """App Mesh's order: priority (0 first, none last), then the longer path, then the name.

    Only the priority order is documented; between equal priorities the order is the
    precedence check's concern, which reports such pairs.
    """
    rules = obj.body["spec"].get("rules") or [{}]
    matches = rules[0].get("matches") or [{}]
    path = (matches[0].get("path") or {}).get("value", "")
    priority = UNPRIORITISED if obj.priority is None else obj.priority
    return priority, -len(path), obj.source.rank()


def _merged(group: _Group, routes: list[Converted], names: set[tuple[str, str]]) -> Converted:
    first = routes[0]
    spec: dict[str, Any] = {"parentRefs": [dict(group.parent)]}
    if group.hostnames:
        spec["hostnames"] = list(group.hostnames)
    spec["rules"] = [rule for route in routes for rule in _one_match_each_rule(route.body)]
    metadata = {
        "name": _name(group, names),
        "namespace": group.namespace,
        "annotations": {SOURCE_ANNOTATION: ", ".join(r.source.address for r in routes)},
    }
    body = {"apiVersion": API_VERSION, "kind": group.kind, "metadata": metadata, "spec": spec}
    return Converted(first.source, body)


def _one_match_each_rule(body: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """A route's rules, split so that each has at most one match (the target's limit)."""
    for rule in body["spec"].get("rules") or [{}]:
        matches = rule.get("matches") or [None]
        for match in matches:
            single = {k: v for k, v in rule.items() if k != "matches"}
            yield single if match is None else {"matches": [match], **single}


def _name(group: _Group, taken: set[tuple[str, str]]) -> str:
    """``<gateway>[-<listener>]-<hostname or any>[-grpc]``, unique in its namespace."""
    parent = dict(group.parent)
    parts = [parent["name"], parent.get("sectionName", ""), group.hostnames[0] if group.hostnames else "any"]
    if group.kind == "GRPCRoute":
        parts.append("grpc")
    stem = _NOT_IN_NAME.sub("-", "-".join(p for p in parts if p).replace("*", "wildcard").lower())
    stem = stem.strip("-")[:240].rstrip("-") or "route"
    name, n = stem, 1
    while (group.namespace, name) in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add((group.namespace, name))
    return name


def _domain_conflict(
    profile: Profile,
    group: _Group,
    merged: Converted,
    routes: list[RouteView],
    domains: dict[tuple[str, str], Converted],
) -> Iterable[Found]:
    """The first hostname is the service's custom domain name; a second service cannot have it."""
    behaviour = profile.behaviour(Feature.DOMAIN_CONFLICT)
    if behaviour is None or not group.hostnames:
        return
    holder = domains.setdefault((group.kind, group.hostnames[0]), merged)
    if holder is merged:
        return
    what = (
        f"custom domain name {group.hostnames[0]!r} of {merged.kind} {merged.namespace}/{merged.name}, "
        f"already that of {holder.namespace}/{holder.name}"
    )
    for view in routes:
        yield Found(
            behaviour, view.key, finding(profile, behaviour, view.key, Hit(view.at("match.hostname"), what))
        )


def _quota(profile: Profile, merged: Converted, routes: list[RouteView]) -> Iterable[Found]:
    behaviour = profile.behaviour(Feature.RULES_PER_LISTENER)
    if behaviour is None or behaviour.limit is None:
        return
    rules = merged.body["spec"]["rules"]
    origins = [view for view in routes for _ in _one_match_each_rule(view.body)]
    for index in range(behaviour.limit, len(rules)):
        view = origins[index]
        hit = Hit(
            view.root,
            f"rule {index + 1} of {len(rules)} in {merged.kind} {merged.namespace}/{merged.name} "
            f"(default quota {behaviour.limit})",
        )
        yield Found(behaviour, view.key, finding(profile, behaviour, view.key, hit))
