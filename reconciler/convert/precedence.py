"""Would Gateway API pick the route App Mesh's ``priority`` picked? Checked pair by pair.

Gateway API has no priority. Among the routes of one listener whose matches accept the
same request it prefers, in order (Gateway API v1.6.1, HTTPRoute ``hostnames`` and
``rules``; GRPCRoute ``rules``): the longer matching exact hostname, the longer matching
hostname, then for HTTP an exact path, the longer path prefix, a method, more header
matches, more query matches; for gRPC the longer service, the longer method, more
header matches; then the older route, then ``namespace/name``. RegularExpression paths
rank by the implementation's own rules.

App Mesh orders gateway routes by ``priority`` (0 first) and takes the first that
matches (AWS CDK's App Mesh reference, ``CommonGatewayRouteSpecOptions.priority``); a
route without one is priority 1000, the lowest (App Mesh's Kubernetes controller,
``GatewayRouteSpec.priority``: "Default Priority is 1000 which is lowest priority"). Among
equal priorities it sorts prefix routes by the prefix's length, longer first
(aws/aws-app-mesh-roadmap#77); any other pair of equal priority that can match one request
has no documented order and is reported ``undetermined``.

Overlap is judged on the converted matches (what Gateway API will evaluate), erring
towards "may overlap": a pair is skipped only where no request can match both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations
from typing import Any

from .gatewayapi import DEFAULT_PRIORITY, Converted, FindingKind

ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")


class Verdict(StrEnum):
    OTHER_ROUTE = "other-route"  # Gateway API prefers the route App Mesh ranked lower
    TIE = "tie"  # Gateway API's criteria tie: the older route wins, then the name
    IMPLEMENTATION_SPECIFIC = "implementation-specific"  # a RegularExpression path decides
    UNDETERMINED = "undetermined"  # App Mesh documents no order for the two routes


@dataclass(frozen=True)
class PriorityConflict:
    """Two routes that can match one request, ordered differently by App Mesh and Gateway API."""

    winner: str  # App Mesh's choice (the lower priority number), as mesh/gateway/route
    other: str
    verdict: Verdict
    why: str

    @property
    def kind(self) -> FindingKind:
        return FindingKind.UNDETERMINED if self.verdict is Verdict.UNDETERMINED else FindingKind.LOSS

    def as_dict(self) -> dict[str, str]:
        return {
            "appMeshPicks": self.winner,  # the first of the two where App Mesh's order is undetermined
            "over": self.other,
            "gatewayApi": str(self.verdict),
            "why": self.why,
            "kind": str(self.kind),
            "field": "spec.priority",
        }


@dataclass(frozen=True)
class _Route:
    converted: Converted
    priority: int
    match: dict[str, Any]
    hostnames: tuple[str, ...]
    gateway: str
    sections: frozenset[str]  # the listeners attached to, or empty for all of them

    @property
    def address(self) -> str:
        return self.converted.source.address


def conflicts(objects: Iterable[Converted]) -> list[PriorityConflict]:
    """Every pair of routes where Gateway API's order may not be App Mesh's, or App Mesh has none."""
    routes = [r for o in objects if o.kind in ROUTE_KINDS for r in _routes(o)]
    found = []
    for a, b in combinations(routes, 2):
        if a.converted.kind != b.converted.kind or not _same_listener(a, b) or not _may_overlap(a, b):
            continue
        if not _shared_hosts(a.hostnames, b.hostnames):
            continue
        order = _app_mesh_order(a, b)
        conflict = (
            PriorityConflict(a.address, b.address, Verdict.UNDETERMINED, _undetermined(a, b))
            if order is None
            else _compare(*order)
        )
        if conflict is not None:
            found.append(conflict)
    return found


def _app_mesh_order(a: _Route, b: _Route) -> tuple[_Route, _Route] | None:
    """(the route App Mesh tries first, the other), or None where no document says."""
    if a.priority != b.priority:
        return (a, b) if a.priority < b.priority else (b, a)
    prefix_a, prefix_b = a.converted.prefix, b.converted.prefix
    if prefix_a is None or prefix_b is None or len(prefix_a) == len(prefix_b):
        return None
    return (a, b) if len(prefix_a) > len(prefix_b) else (b, a)


def _undetermined(a: _Route, b: _Route) -> str:
    given = "no priority" if a.converted.priority is None else f"priority {a.priority}"
    if a.converted.prefix is not None and b.converted.prefix is not None:
        given += " and prefixes of one length"
    return f"both have {given}: App Mesh documents no order between them"


def _routes(obj: Converted) -> list[_Route]:
    spec = obj.body["spec"]
    priority = DEFAULT_PRIORITY if obj.priority is None else obj.priority
    parents = spec["parentRefs"]
    sections = frozenset(p["sectionName"] for p in parents if "sectionName" in p)
    hostnames = tuple(spec.get("hostnames", ()))
    matches = spec["rules"][0].get("matches") or [{}]
    return [_Route(obj, priority, m, hostnames, parents[0]["name"], sections) for m in matches]


def _same_listener(a: _Route, b: _Route) -> bool:
    if a.converted.namespace != b.converted.namespace or a.gateway != b.gateway:
        return False
    return not (a.sections and b.sections and not a.sections & b.sections)


def _compare(winner: _Route, other: _Route) -> PriorityConflict | None:
    """The conflict, if some request both match goes to ``other`` or is left to a tie-break."""
    verdicts = []
    for host_w, host_o in _shared_hosts(winner.hostnames, other.hostnames):
        key_w, key_o = _host_rank(host_w) + _rank(winner), _host_rank(host_o) + _rank(other)
        if _uses_regex(winner) or _uses_regex(other):
            verdicts.append(
                (
                    Verdict.IMPLEMENTATION_SPECIFIC,
                    "a RegularExpression path match is ranked by the implementation",
                )
            )
        elif key_o > key_w:
            verdicts.append(
                (
                    Verdict.OTHER_ROUTE,
                    f"{other.address} has the more specific match ({_explain(key_o, key_w, other)})",
                )
            )
        elif key_o == key_w:
            verdicts.append(
                (Verdict.TIE, "the matches are equally specific: the older route wins, then the name")
            )
    if not verdicts:
        return None
    verdict, why = min(verdicts, key=lambda v: list(Verdict).index(v[0]))
    return PriorityConflict(winner.address, other.address, verdict, why)


def _shared_hosts(a: Sequence[str], b: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of hostnames (``""`` for any) that some request's Host matches both of."""
    pairs = []
    for x in a or ("",):
        for y in b or ("",):
            if _hosts_meet(x, y):
                pairs.append((x, y))
    return pairs


def _hosts_meet(x: str, y: str) -> bool:
    if not x or not y:
        return True
    if x.startswith("*.") and y.startswith("*."):
        return x.endswith(y[1:]) or y.endswith(x[1:])
    if x.startswith("*."):
        return y.endswith(x[1:])
    if y.startswith("*."):
        return x.endswith(y[1:])
    return x == y


def _host_rank(host: str) -> tuple[int, int]:
    """Characters of a matching exact hostname, then of a matching hostname."""
    return (0 if host.startswith("*") else len(host), len(host))


def _rank(route: _Route) -> tuple[int, ...]:
    """Gateway API's precedence of one match, larger first (after the hostname)."""
    m = route.match
    if route.converted.kind == "GRPCRoute":
        method = m.get("method", {})
        return (len(method.get("service", "")), len(method.get("method", "")), len(m.get("headers", ())))
    path = m.get("path", {"type": "PathPrefix", "value": "/"})
    exact = path.get("type") == "Exact"
    return (
        int(exact),
        len(path.get("value", "")),
        int("method" in m),
        len(m.get("headers", ())),
        len(m.get("queryParams", ())),
    )


_CRITERIA = {
    "HTTPRoute": (
        "exact hostname",
        "hostname",
        "exact path",
        "longer path",
        "method",
        "more headers",
        "more query parameters",
    ),
    "GRPCRoute": ("exact hostname", "hostname", "longer service", "longer method", "more headers"),
}


def _explain(better: tuple[int, ...], worse: tuple[int, ...], route: _Route) -> str:
    index = next(i for i, (x, y) in enumerate(zip(better, worse, strict=True)) if x != y)
    return _CRITERIA[route.converted.kind][index]


def _uses_regex(route: _Route) -> bool:
    return bool(route.match.get("path", {}).get("type") == "RegularExpression")


def _may_overlap(a: _Route, b: _Route) -> bool:
    """False only where no request can satisfy both matches."""
    ma, mb = a.match, b.match
    if not _methods_meet(ma.get("method"), mb.get("method")):
        return False
    if not _paths_meet(ma.get("path"), mb.get("path")):
        return False
    headers_a = {h["name"].lower(): h for h in ma.get("headers", ())}
    for header in mb.get("headers", ()):
        if _exact_values_differ(headers_a.get(header["name"].lower()), header):
            return False
    query_a = {q["name"]: q for q in ma.get("queryParams", ())}
    return not any(_exact_values_differ(query_a.get(q["name"]), q) for q in mb.get("queryParams", ()))


def _exact_values_differ(a: dict[str, str] | None, b: dict[str, str]) -> bool:
    exact = ("Exact", None)
    return a is not None and a.get("type") in exact and b.get("type") in exact and a["value"] != b["value"]


def _methods_meet(a: Any, b: Any) -> bool:
    """An HTTP method (a string), or a gRPC service and method (each optional)."""
    if a is None or b is None:
        return True
    if isinstance(a, str):
        return bool(a == b)
    return all(a.get(k) is None or b.get(k) is None or a[k] == b[k] for k in ("service", "method"))


def _paths_meet(a: dict[str, str] | None, b: dict[str, str] | None) -> bool:
    if a is None or b is None or "RegularExpression" in (a.get("type"), b.get("type")):
        return True
    if a.get("type") == b.get("type") == "Exact":
        return a["value"] == b["value"]
    if a.get("type") == "Exact":
        return _under(a["value"], b["value"])
    if b.get("type") == "Exact":
        return _under(b["value"], a["value"])
    return _under(a["value"], b["value"]) or _under(b["value"], a["value"])


def _under(path: str, prefix: str) -> bool:
    """Gateway API's PathPrefix: whole segments, a trailing slash ignored."""
    stem = prefix.rstrip("/")
    return not stem or path == stem or path.startswith(stem + "/")
