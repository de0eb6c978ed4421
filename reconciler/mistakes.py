"""Likely mistakes the service does not refuse: warnings, never errors.

An error blocks a run, so it needs evidence that the service refuses the input
(botocore's model, the API reference, or a public report); the README's "What is
checked" table names the source of each. Everything here is only likely wrong: no
source shows the service refusing it, and real configurations use some of it (a
port-only match in aws-app-mesh-examples, a hostname-only one in
terraform-provider-aws's acceptance tests). ``model.py`` keeps only the shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import Loc, dotted

# App Mesh's default quotas (adjustable, so exceeding them is a warning).
ROUTES_PER_GATEWAY = 10
GATEWAYS_PER_MESH = 3
_ROUTE_TYPES = {"httpRoute": "http", "http2Route": "http2", "grpcRoute": "grpc"}


@dataclass(frozen=True)
class LikelyMistake:
    """A likely mistake at ``loc`` (a path into the manifest document)."""

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        return dotted(self.loc)


def spec_warnings(kind: str, spec: Mapping[str, Any]) -> list[LikelyMistake]:
    """Likely mistakes in one validated spec (API JSON), located under ``spec``."""
    return _gateway_warnings(spec) if kind == "VirtualGateway" else _route_warnings(spec)


def _gateway_warnings(spec: Mapping[str, Any]) -> list[LikelyMistake]:
    listeners = spec.get("listeners", [])
    found = []
    if not listeners:
        found.append(LikelyMistake(("spec", "listeners"), "no listener: the gateway accepts no traffic"))
    ports = [listener["portMapping"]["port"] for listener in listeners]
    for port in sorted({p for p in ports if ports.count(p) > 1}):
        found.append(LikelyMistake(("spec", "listeners"), f"two listeners use port {port}"))
    for i, listener in enumerate(listeners):
        protocol = listener["portMapping"]["protocol"]
        for pool in listener.get("connectionPool", {}):
            if pool != protocol:  # API reference: "should be the same protocol as ... port mapping"
                found.append(
                    LikelyMistake(
                        ("spec", "listeners", i, "connectionPool", pool),
                        f"a {pool} connection pool on a {protocol} listener; use connectionPool.{protocol}",
                    )
                )
    return found


def _route_warnings(spec: Mapping[str, Any]) -> list[LikelyMistake]:
    route_type = next((t for t in _ROUTE_TYPES if t in spec), None)
    if route_type is None:
        return []
    route = spec[route_type]
    match: Mapping[str, Any] = route.get("match", {})
    at: Loc = ("spec", route_type, "match")
    found = []
    if not any(value not in ({}, []) for value in match.values()):
        found.append(
            LikelyMistake(at, "the match has no criteria: it matches every request the gateway gets")
        )
    found += _one_of(match.get("hostname"), (*at, "hostname"), "exact", "suffix")
    found += _one_of(match.get("path"), (*at, "path"), "exact", "regex")
    if "prefix" in match and "path" in match:
        found.append(LikelyMistake(at, "sets both prefix and path; App Mesh documents one or the other"))
    for member in ("headers", "metadata"):
        for i, header in enumerate(match.get(member, [])):
            limits = header.get("match", {}).get("range")
            if limits and limits["start"] >= limits["end"]:
                message = (
                    f"range start ({limits['start']}) is not below end ({limits['end']}): it matches nothing"
                )
                found.append(LikelyMistake((*at, member, i, "match", "range"), message))
    rewrite: Mapping[str, Any] = route.get("action", {}).get("rewrite", {})
    here: Loc = ("spec", route_type, "action", "rewrite")
    if "prefix" in rewrite and "path" in rewrite:
        found.append(
            LikelyMistake(here, "rewrites both prefix and path; App Mesh documents one or the other")
        )
    for member in ("prefix", "path"):
        if member in rewrite and member not in match:
            found.append(
                LikelyMistake((*here, member), f"rewrites the {member}, but the match sets no {member}")
            )
    found += _one_of(rewrite.get("prefix"), (*here, "prefix"), "defaultPrefix", "value", at_most=True)
    return found


def _one_of(
    value: Mapping[str, Any] | None, loc: Loc, *members: str, at_most: bool = False
) -> list[LikelyMistake]:
    if value is None:
        return []
    present = [m for m in members if m in value]
    if len(present) > 1 or (not present and not at_most):
        found = f"both {' and '.join(present)}" if present else f"none of {', '.join(members)}"
        return [LikelyMistake(loc, f"sets {found}; set one")]
    return []


def route_against_gateway(route: Mapping[str, Any], gateway: Mapping[str, Any]) -> list[LikelyMistake]:
    """What the gateway would likely not serve as the route asks (none is known to be refused)."""
    route_type = next((t for t in _ROUTE_TYPES if t in route), None)
    if route_type is None:
        return []
    protocol = _ROUTE_TYPES[route_type]
    listeners = [listener["portMapping"] for listener in gateway.get("listeners", [])]
    match = route[route_type].get("match", {})
    found = []
    if not any(mapping["protocol"] == protocol for mapping in listeners):
        served = ", ".join(sorted({m["protocol"] for m in listeners})) or "none"
        found.append(
            LikelyMistake(
                ("spec", route_type), f"the gateway has no {protocol} listener (it serves: {served})"
            )
        )
    port_loc: Loc = ("spec", route_type, "match", "port")
    if len(listeners) > 1 and "port" not in match:
        ports = ", ".join(str(m["port"]) for m in listeners)
        found.append(
            LikelyMistake(port_loc, f"the gateway has several listeners ({ports}); the match names no port")
        )
    elif "port" in match and match["port"] not in {m["port"] for m in listeners}:
        found.append(LikelyMistake(port_loc, f"the gateway has no listener on port {match['port']}"))
    return found
