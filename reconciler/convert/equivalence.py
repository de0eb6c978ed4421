"""Does the converted configuration route every request as App Mesh did? Checked request by request.

From each gateway's routes, boundary requests are generated (every match's exact value, one
character more and less, the path element boundary, case variants, each header present,
absent and other, each listener port, the neighbouring routes' values); both models
(``appmesh_model``, ``gwapi_model``) answer each, and the answers are compared on the
destination, the forwarded path and the forwarded Host. A difference must be explained by a
finding on one of the routes involved, on a field that bears on what differs; one that is
not is an ``unexplained`` finding: a converter defect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .. import model
from ..resources import Key
from . import appmesh_model, gwapi_model
from .gatewayapi import Conversion, Finding, FindingKind
from .precedence import PriorityConflict
from .requests import GRPC_CONTENT_TYPE, Request, Routing

DEFAULT_HOST = "gateway.example.com"
OTHER_VALUE = "zz-other"
OTHER_METHODS = ("GET", "POST")
FIELD = "equivalence"
_HOST = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*")


class Aspect(StrEnum):
    DESTINATION = "destination"
    PATH = "path"
    HOST = "host"


# The finding fields that can explain a difference: the match and order for another route
# chosen; the rewrite (and the match it rewrites) for another path or Host. The destination
# differs only where the route does: one route's backend is the one the converter wrote.
_ROUTE_FIELDS = re.compile(
    r"(^|\.)match\b|^metadata\.virtualGateway$|^spec\.(httpRoute|http2Route|grpcRoute)\.?$"
)
_LISTENER_FIELDS = re.compile(r"^spec\.listeners\[\d+\](\.portMapping\.port)?$")  # a listener merged or moved
_ASPECT_FIELDS = {
    Aspect.PATH: re.compile(r"\.(match\.prefix|match\.path|action\.rewrite\.prefix|action\.rewrite\.path)\b"),
    Aspect.HOST: re.compile(r"\.(action\.rewrite\.hostname|match\.hostname)\b"),
}


@dataclass(frozen=True)
class Difference:
    """One request both models answer differently, and the findings that say why."""

    gateway: str
    request: Request
    app_mesh: Routing
    gateway_api: tuple[Routing, ...]  # Gateway API's choice; several where creation order decides
    aspects: tuple[Aspect, ...]
    findings: tuple[Finding, ...]

    @property
    def route(self) -> str:
        """The App Mesh route the difference is listed under (App Mesh's choice, else Gateway API's)."""
        chosen = self.app_mesh.route or next((o.route for o in self.gateway_api if o.route), None)
        return chosen or self.gateway

    def as_dict(self) -> dict[str, Any]:
        """One routed-differently request in the JSON report; further creation-order choices listed."""
        first = self.gateway_api[0] if self.gateway_api else Routing(None)
        api = first.as_dict()
        if len(self.gateway_api) > 1:
            api["orCreationOrderPicks"] = [o.as_dict() for o in self.gateway_api[1:]]
        return {
            "gateway": self.gateway,
            "request": self.request.as_dict(),
            "appMesh": self.app_mesh.as_dict(),
            "gatewayApi": api,
            "differs": [str(a) for a in self.aspects],
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass
class Equivalence:
    requests: int = 0
    undetermined: int = 0  # requests App Mesh's documents do not decide (equal priority and prefix)
    differences: list[Difference] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Difference]:
        return [d for d in self.differences if not d.findings]

    def findings(self) -> list[Finding]:
        """One ``unexplained`` finding per route with differences no finding explains."""
        first: dict[str, Difference] = {}
        counts: dict[str, int] = {}
        for d in self.unexplained:
            first.setdefault(d.route, d)
            counts[d.route] = counts.get(d.route, 0) + 1
        return [
            Finding(
                route,
                FIELD,
                f"{d.request}: {d.app_mesh}",
                f"{_outcomes(d.gateway_api)} ({counts[route]} request(s)); no finding explains it",
                FindingKind.UNEXPLAINED,
            )
            for route, d in first.items()
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "undetermined": self.undetermined,
            "differences": [d.as_dict() for d in self.differences],
            "unexplained": [f.as_dict() for f in self.findings()],
        }


def check(
    specs: Mapping[Key, Mapping[str, Any]],
    conversion: Conversion,
    conflicts: Sequence[PriorityConflict] = (),
    semantics: gwapi_model.Semantics = gwapi_model.SPEC,
) -> Equivalence:
    """Both models on every boundary request of every converted gateway."""
    gateways = appmesh_model.gateways(specs)
    api = gwapi_model.GatewayApi(conversion.objects, semantics)
    backends = _backends(gateways.values(), conversion)
    explain = _Explainer(conversion.findings, conflicts)
    result = Equivalence()
    for key in sorted(gateways, key=Key.rank):
        gateway = gateways[key]
        for request in sorted(requests(gateway)):
            result.requests += 1
            tied = gateway.route(request)
            mesh = _distinct(tied)
            if len(mesh) > 1:
                result.undetermined += 1
                continue
            expected = mesh[0] if mesh else Routing(None)
            answers = api.route(key, request) or (Routing(None),)
            aspects = _differing(expected, answers, backends)
            if aspects:
                choice = _Choice(
                    {o.route for o in tied if o.route},
                    gateway.matching(request),
                    {o.route for o in answers if o.route},
                    api.matching(key, request),
                )
                found = explain(key, choice, aspects)
                result.differences.append(Difference(key.address, request, expected, answers, aspects, found))
    return result


def _distinct(outcomes: Iterable[Routing]) -> list[Routing]:
    """Tied App Mesh routes that would all do the same are no tie at all."""
    seen: dict[tuple[Any, ...], Routing] = {}
    for o in outcomes:
        seen.setdefault((o.destination, o.path, o.host), o)
    return list(seen.values())


def _backends(gateways: Iterable[appmesh_model.Gateway], conversion: Conversion) -> dict[str, set[str]]:
    """App Mesh destinations → the Services the converter wrote for them (as ``namespace/name:port``)."""
    written: dict[Key, str] = {}
    for obj in conversion.objects:
        refs = [r for rule in obj.body.get("spec", {}).get("rules", []) for r in rule.get("backendRefs", [])]
        if refs:
            written[obj.source] = (
                f"{refs[0].get('namespace', obj.namespace)}/{refs[0]['name']}:{refs[0].get('port')}"
            )
    out: dict[str, set[str]] = {}
    for gateway in gateways:
        for route in gateway.routes:
            destination = appmesh_model.destination(route)
            if route.key in written:
                out.setdefault(destination, set()).add(written[route.key])
    return out


def _differing(
    expected: Routing, answers: Sequence[Routing], backends: Mapping[str, set[str]]
) -> tuple[Aspect, ...]:
    """What differs between App Mesh's outcome and any outcome Gateway API may choose."""
    found: list[Aspect] = []
    for answer in answers:
        if expected.route is None or answer.route is None:
            if expected.route != answer.route:
                found.append(Aspect.DESTINATION)
            continue
        if answer.destination not in backends.get(expected.destination or "", set()):
            found.append(Aspect.DESTINATION)
        if answer.path != expected.path:
            found.append(Aspect.PATH)
        if (answer.host or "").lower() != (expected.host or "").lower():
            found.append(Aspect.HOST)
    return tuple(a for a in Aspect if a in found)


def _outcomes(outcomes: Sequence[Routing]) -> str:
    return " or ".join(str(o) for o in outcomes) if outcomes else str(Routing(None))


class _Explainer:
    """The findings (and priority conflicts) on the routes and fields a difference involves."""

    def __init__(self, findings: Iterable[Finding], conflicts: Iterable[PriorityConflict]) -> None:
        self.by_resource: dict[str, list[Finding]] = {}
        for f in findings:
            self.by_resource.setdefault(f.resource, []).append(f)
        self.conflicts = list(conflicts)

    def __call__(self, gateway: Key, choice: _Choice, aspects: Sequence[Aspect]) -> tuple[Finding, ...]:
        """The findings for every reason the outcomes differ; none if any reason has none.

        The same route chosen (or one of App Mesh's equal routes): its rewrites, and the
        matches they rewrite, explain another path or Host. Another route chosen: a route of
        App Mesh's that Gateway API does not match, or one it matches that App Mesh does not,
        is explained by that route's match (or whole-route and listener) findings; two routes
        both models match, ordered differently, by the pair's priority conflict.
        """
        reasons: list[list[Finding]] = []
        if choice.gateway_api and choice.gateway_api <= choice.app_mesh:
            patterns = [_ASPECT_FIELDS[a] for a in aspects if a in _ASPECT_FIELDS]
            reasons.append(
                [
                    f
                    for r in sorted(choice.app_mesh | choice.gateway_api)
                    for f in self.by_resource.get(r, [])
                    if any(p.search(f.field) for p in patterns)
                ]
            )
        else:
            lost = (choice.app_mesh - choice.gateway_api_matching) | (
                choice.gateway_api - choice.app_mesh_matching
            )
            reasons += [self._matches(gateway, r) for r in sorted(lost)]
            reasons += [
                [_as_finding(c) for c in self.conflicts if {c.winner, c.other} == {a, b}]
                for a in sorted(choice.app_mesh & choice.gateway_api_matching)
                for b in sorted((choice.gateway_api & choice.app_mesh_matching) - choice.app_mesh)
            ]
        if not reasons or not all(reasons):
            return ()
        return tuple(dict.fromkeys(f for reason in reasons for f in reason))

    def _matches(self, gateway: Key, route: str) -> list[Finding]:
        """What was lost of a route's match (or of the whole route, or of its gateway's listeners)."""
        found = [f for f in self.by_resource.get(route, []) if _ROUTE_FIELDS.search(f.field)]
        return found + [
            f for f in self.by_resource.get(gateway.address, []) if _LISTENER_FIELDS.search(f.field)
        ]


@dataclass(frozen=True)
class _Choice:
    """Which routes each model chose for a request, and which it matched."""

    app_mesh: set[str]  # App Mesh's choice: several tied routes that do the same, or none
    app_mesh_matching: set[str]
    gateway_api: set[str]  # Gateway API's choice: several where creation order decides, or none
    gateway_api_matching: set[str]


def _as_finding(conflict: PriorityConflict) -> Finding:
    return Finding(
        conflict.winner,
        "spec.priority",
        f"tried before {conflict.other} (priority)",
        f"Gateway API: {conflict.verdict.value}: {conflict.why}",
    )


# --- boundary requests ----------------------------------------------------------


def requests(gateway: appmesh_model.Gateway) -> set[Request]:
    """Boundary requests for every listener of ``gateway`` and every match of its routes.

    Each route's own request is varied by every path, Host, port and method near it: its
    own values and those of the routes whose paths could meet its own (``_related``).
    """
    out: set[Request] = set()
    ports = [li.portMapping.port for li in gateway.spec.listeners]
    methods = {*OTHER_METHODS, *_methods(gateway.routes)}
    for listener in gateway.spec.listeners:
        port, protocol = listener.portMapping.port, listener.portMapping.protocol
        grpc = protocol == "grpc"
        paths = _grpc_paths(gateway.routes) if grpc else _paths(gateway.routes)
        other = _grpc_request(port, "other.Service") if grpc else Request(port, DEFAULT_HOST, "/")
        bases = [(_base(r, port), r) for r in gateway.routes if r.protocol == protocol] + [(other, None)]
        for base, route in bases:
            near = [r for r in gateway.routes if grpc or _related(base.bare_path, _path_of(r))]
            out.add(base)
            out.update(base.with_(path=p) for p in paths if grpc or _related(base.bare_path, p))
            out.update(base.with_(host=h) for h in _hosts(near))
            out.update(base.with_(port=p) for p in ports)
            if not grpc:
                out.update(base.with_(method=m) for m in methods)
            if route is not None:
                out.update(_perturbed(base, route))
    return out


def _path_of(route: appmesh_model.Route) -> str:
    """The path a route's own request starts from ("/" for gRPC and regex routes: related to all)."""
    http = route.spec.httpRoute or route.spec.http2Route
    if http is None or (http.match.path is not None and http.match.path.regex):
        return "/"
    return http.match.path.exact if http.match.path and http.match.path.exact else (route.prefix or "/")


def _base(route: appmesh_model.Route, port: int) -> Request:
    """A request that meets every criterion of ``route``'s match (where one can be built)."""
    spec = route.spec
    if spec.grpcRoute is not None:
        match = spec.grpcRoute.match
        request = _grpc_request(match.port or port, match.serviceName or "any.Service")
        headers: Sequence[Any] = match.metadata or ()
    else:
        http = spec.httpRoute or spec.http2Route
        assert http is not None
        m = http.match
        path = m.path.exact if m.path is not None and m.path.exact else (m.prefix or _regex_sample(m.path))
        query = "&".join(
            f"{q.name}={q.match.exact if q.match and q.match.exact else 'v'}" for q in m.queryParameters or ()
        )
        request = Request(
            m.port or port, DEFAULT_HOST, path + (f"?{query}" if query else ""), m.method or "GET"
        )
        headers = m.headers or ()
    hostname = (spec.grpcRoute or spec.httpRoute or spec.http2Route).match.hostname  # type: ignore[union-attr]
    if hostname is not None:
        request = request.with_(host=_host_for(hostname))
    satisfied = tuple((h.name, _satisfying(h)) for h in headers if _satisfying(h) is not None)
    return request.with_(headers=request.headers + satisfied)


def _perturbed(base: Request, route: appmesh_model.Route) -> Iterator[Request]:
    """``base`` with one criterion of ``route`` pushed across its boundary at a time."""
    spec = route.spec
    match: Any = (spec.grpcRoute or spec.httpRoute or spec.http2Route).match  # type: ignore[union-attr]
    headers = match.metadata if spec.grpcRoute is not None else match.headers
    for header in headers or ():
        others = tuple(h for h in base.headers if h[0] != header.name)
        yield base.with_(headers=others)
        for value in _header_values(header):
            yield base.with_(headers=(*others, (header.name, value)))
        present = next((v for k, v in base.headers if k == header.name), None)
        if present is not None:
            yield base.with_(headers=(*others, (_swapped(header.name), present)))
    if spec.grpcRoute is None:
        for parameter in match.queryParameters or ():
            yield base.with_(path=_without_query(base.path, parameter.name))
            yield base.with_(
                path=f"{base.path}{'&' if '?' in base.path else '?'}{parameter.name}={OTHER_VALUE}"
            )
        yield base.with_(path=base.path + ("&" if "?" in base.path else "?") + "q=1")


def _paths(routes: Iterable[appmesh_model.Route]) -> set[str]:
    """Every prefix and exact path with its neighbours: one character more and less, the element
    boundary (``/x``, ``/x/``, ``/xy``, ``/x/y``) and a case variant."""
    out = {"/", "/" + OTHER_VALUE}
    for route in routes:
        http = route.spec.httpRoute or route.spec.http2Route
        if http is None:
            continue
        for value in (http.match.prefix, http.match.path.exact if http.match.path else None):
            if value:
                stem = value.rstrip("/") or "/"
                out.update({value, value + "x", value[:-1] or "/", stem, stem + "/", stem + "/x", stem + "y"})
                out.add(value.swapcase())
        if http.match.path is not None and http.match.path.regex:
            out.add(_regex_sample(http.match.path))
    return {p for p in out if p.startswith("/")}


def _related(path: str, other: str) -> bool:
    """Paths whose first elements could meet in some match: one a string prefix of the other
    (App Mesh's prefixes are strings), or either the root. Keeps the requests per gateway near
    linear in its routes: unrelated routes' paths cannot tell anything about each other."""
    first, second = (p.lstrip("/").split("/", 1)[0].lower() for p in (path, other))
    return not first or not second or first.startswith(second) or second.startswith(first)


def _grpc_paths(routes: Iterable[appmesh_model.Route]) -> set[str]:
    out = {"/other.Service/Call"}
    for route in routes:
        service = route.spec.grpcRoute.match.serviceName if route.spec.grpcRoute else None
        if service:
            for variant in (service, service + "x", service[:-1], service.swapcase()):
                if variant:
                    out.add(f"/{variant}/Call")
    return out


def _grpc_request(port: int, service: str) -> Request:
    return Request(
        port, DEFAULT_HOST, f"/{service}/Call", "POST", (("content-type", GRPC_CONTENT_TYPE),), grpc=True
    )


def _hosts(routes: Iterable[appmesh_model.Route]) -> set[str]:
    """Each hostname match's own value, one label more, one character more, a bare suffix."""
    out = {DEFAULT_HOST}
    for route in routes:
        match: Any = (route.spec.grpcRoute or route.spec.httpRoute or route.spec.http2Route).match  # type: ignore[union-attr]
        hostname: model.GatewayRouteHostnameMatch | None = match.hostname
        if hostname is None:
            continue
        value = hostname.exact or hostname.suffix or ""
        bare = value.lstrip(".")
        out.update((value, bare, f"a.{bare}", f"a{value}", value[1:], value.upper()))
    return {h for h in out if _HOST.fullmatch(h)}  # a Host that is no DNS name is refused before routing


def _host_for(hostname: model.GatewayRouteHostnameMatch) -> str:
    if hostname.exact is not None:
        return hostname.exact
    suffix = hostname.suffix or ""
    return f"a{suffix}" if suffix.startswith(".") else f"a.{suffix}"


def _methods(routes: Iterable[appmesh_model.Route]) -> set[str]:
    return {
        http.match.method
        for r in routes
        if (http := r.spec.httpRoute or r.spec.http2Route) is not None and http.match.method is not None
    }


def _satisfying(header: Any) -> str | None:
    """A value ``header`` matches (None: it matches when absent, by ``invert``, or no value is known)."""
    method = header.match
    if header.invert:
        return OTHER_VALUE if method is not None else None
    if method is None:
        return "present"
    if method.exact is not None:
        return str(method.exact)
    if method.prefix is not None:
        return f"{method.prefix}z"
    if method.suffix is not None:
        return f"z{method.suffix}"
    if method.range is not None:
        return str(method.range.start)
    sample = _literal(method.regex or "")
    return sample if sample and appmesh_model.full_match(method.regex, sample) else None


def _header_values(header: Any) -> list[str]:
    """Values just inside and outside ``header``'s match."""
    method = header.match
    values = [OTHER_VALUE]
    if method is None:
        return values
    for text in (method.exact, method.prefix, method.suffix):
        if text:
            values += [text, text + "z", text[:-1], "z" + text, text.swapcase()]
    if method.range is not None:
        start, end = method.range.start, method.range.end
        values += [str(v) for v in (start - 1, start, end - 1, end)]
    if method.regex:
        values.append(_literal(method.regex))
    return [v for v in values if v]


def _regex_sample(path: model.HttpPathMatch | None) -> str:
    """A path near a regex: its literal characters (a full sample generator is out of scope)."""
    literal = _literal(path.regex or "") if path is not None else ""
    return literal if literal.startswith("/") else "/" + literal


def _literal(pattern: str) -> str:
    return re.sub(r"\\(.)|[^A-Za-z0-9/_.~-]", lambda m: m.group(1) or "", pattern).replace(".", "")


def _swapped(name: str) -> str:
    return name.upper() if name.upper() != name else name.lower()


def _without_query(path: str, name: str) -> str:
    bare, _, query = path.partition("?")
    kept = "&".join(p for p in query.split("&") if p and p.split("=", 1)[0] != name)
    return f"{bare}?{kept}" if kept else bare
