"""Emission for targets that evaluate rules in list order (VPC Lattice).

Such a target ignores the spec's precedence, and each route becomes a service of its own with
its own domain name. So the routes of one gateway, listener and hostname are written as one
route whose rules keep App Mesh's order, one match per rule; a route the target refuses is left
out, because one refused rule fails the whole merged route; the rules-per-listener quota is
checked on the merged route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...resources import Key
from .. import names
from ..gatewayapi import API_VERSION, DEFAULT_PRIORITY, SOURCE_ANNOTATION, Converted
from .check import ROUTE_KINDS, Found, Hit, RouteView, finding
from .profiles import Feature, Profile


@dataclass(frozen=True)
class _Group:
    namespace: str
    kind: str
    parents: tuple[tuple[tuple[str, Any], ...], ...]
    hostnames: tuple[str, ...]

    def text(self) -> str:
        """What names the merged route: ``<gateway>[-<listener>...]-<hostname or any>[-grpc]``."""
        refs = [dict(p) for p in self.parents]
        parts = [refs[0]["name"], *(r["sectionName"] for r in refs if "sectionName" in r)]
        parts.append(self.hostnames[0].replace("*", "wildcard") if self.hostnames else "any")
        if self.kind == "GRPCRoute":
            parts.append("grpc")
        return "-".join(parts).replace(".", "-")


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
    findings: list[Found] = []
    domains: dict[tuple[str, str], Converted] = {}  # (kind, custom domain) -> the route that has it
    named = _names(groups)
    for group, routes in groups.items():
        ordered = sorted(routes, key=appmesh_order)
        merged = _merged(group, ordered, named[group])
        kept.append(merged)
        origins = [by_key[r.source] for r in ordered]
        findings.extend(_quota(profile, merged, origins))
        findings.extend(_domain_conflict(profile, group, merged, origins, domains))
    return kept, findings


def _group_of(obj: Converted) -> _Group:
    spec = obj.body["spec"]
    parents = tuple(tuple(sorted(ref.items())) for ref in spec["parentRefs"])
    return _Group(obj.namespace, obj.kind, parents, tuple(spec.get("hostnames") or ()))


def appmesh_order(obj: Converted) -> tuple[int, int, tuple[Any, ...]]:
    """App Mesh's order (``precedence``'s sources): priority, 0 first and none as 1000, then
    the longer prefix; then the name, where App Mesh documents no order (reported there).
    """
    priority = DEFAULT_PRIORITY if obj.priority is None else obj.priority
    return priority, -len(obj.prefix or ""), obj.source.rank()


def _names(groups: Iterable[_Group]) -> dict[_Group, str]:
    """Each merged route's name, through the one naming scheme, unique in its namespace."""
    by_namespace: dict[str, list[_Group]] = {}
    for group in groups:
        by_namespace.setdefault(group.namespace, []).append(group)
    named = {}
    for members in by_namespace.values():
        texts = {repr((g.kind, g.parents, g.hostnames)): g for g in members}
        stems = {text: group.text() for text, group in texts.items()}
        chosen = names.unique(texts, names.Rule.SUBDOMAIN, stems.__getitem__)
        named.update({group: chosen[text] for text, group in texts.items()})
    return named


def _merged(group: _Group, routes: list[Converted], name: str) -> Converted:
    first = routes[0]
    spec: dict[str, Any] = {"parentRefs": [dict(p) for p in group.parents]}
    if group.hostnames:
        spec["hostnames"] = list(group.hostnames)
    spec["rules"] = [rule for route in routes for rule in _one_match_each_rule(route.body)]
    metadata = {
        "name": name,
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
