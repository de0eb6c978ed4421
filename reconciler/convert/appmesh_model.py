"""How an App Mesh virtual gateway routes a request: a plain interpreter of its documents.

Each rule cites its source:
- [API] the App Mesh API reference (``/work/shared/seeds/``, and botocore's ``appmesh``
  2019-01-25 model, which carries the same member descriptions);
- [GUIDE-VG] the App Mesh user guide, "Virtual gateways"
  (https://docs.aws.amazon.com/app-mesh/latest/userguide/virtual_gateways.html);
- [CDK] the AWS CDK App Mesh reference, ``CommonGatewayRouteSpecOptions.priority``;
- [ROADMAP77] aws/aws-app-mesh-roadmap#77: without priorities "App Mesh does sort the
  routes according to length" when it writes Envoy's route table;
- [CONTROLLER] the App Mesh Kubernetes controller: a route without ``priority`` is ordered
  as 1000, the lowest (``GatewayRouteSpec.priority``, "Default Priority is 1000").

What the documents leave open is not guessed: routes the documents order equally are
returned together (a tie), and ``equivalence`` compares only where the tie does not matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import model
from ..resources import GATEWAY, ROUTE, Key
from .requests import Request, Routing

_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits: str.isdigit() takes "²", which int() refuses
# App Mesh's Kubernetes controller: "Default Priority is 1000 which is lowest priority"
# (aws-app-mesh-controller-for-k8s, apis/appmesh/v1beta2/gatewayroute_types.go).
DEFAULT_PRIORITY = 1000


@dataclass(frozen=True)
class Route:
    key: Key
    spec: model.GatewayRouteSpec

    @property
    def protocol(self) -> str:
        """The listener protocol the route type serves ([API] httpRoute, http2Route, grpcRoute)."""
        return "grpc" if self.spec.grpcRoute else ("http2" if self.spec.http2Route else "http")

    @property
    def priority(self) -> int:
        return DEFAULT_PRIORITY if self.spec.priority is None else self.spec.priority  # [CONTROLLER]

    @property
    def prefix(self) -> str | None:
        """The prefix App Mesh orders the route by: "/" where the match has neither prefix nor path
        (the service answers such a match with prefix "/", README); none with a path match (as
        the converter's ``Converted.prefix``, which ``precedence`` orders by)."""
        http = self.spec.httpRoute or self.spec.http2Route
        if http is None or http.match.path is not None:
            return None
        return http.match.prefix or "/"


@dataclass(frozen=True)
class Gateway:
    key: Key
    spec: model.VirtualGatewaySpec
    routes: tuple[Route, ...]
    _by_port: dict[int, tuple[Route, ...]] = field(default_factory=dict, compare=False, repr=False)

    def listener(self, port: int) -> model.VirtualGatewayListener | None:
        return next((li for li in self.spec.listeners if li.portMapping.port == port), None)

    def _serving(self, port: int) -> tuple[Route, ...]:
        """The routes that serve the listener on ``port`` (computed once per port)."""
        if port not in self._by_port:
            listener = self.listener(port)
            self._by_port[port] = tuple(
                r for r in self.routes if listener is not None and _listens(r, listener)
            )
        return self._by_port[port]

    def route(self, request: Request) -> tuple[Routing, ...]:
        """The outcome of ``request``: one, none (a 404), or several the documents order equally."""
        listener = self.listener(request.port)
        if listener is None:
            return ()
        return tuple(_forward(r, request) for r in _first(self._matching(request)))

    def matching(self, request: Request) -> set[str]:
        """Every route (by address) that matches ``request``, tried first or not."""
        return {r.key.address for r in self._matching(request)}

    def _matching(self, request: Request) -> list[Route]:
        return [r for r in self._serving(request.port) if _matches(r, request)]


def gateways(specs: Mapping[Key, Mapping[str, Any]]) -> dict[Key, Gateway]:
    """Every gateway of ``specs`` (App Mesh JSON specs, already valid) with its routes."""
    routes: dict[Key, list[Route]] = {}
    for key, spec in specs.items():
        if key.kind == ROUTE and key.parent is not None:
            routes.setdefault(key.parent, []).append(Route(key, model.GatewayRouteSpec.model_validate(spec)))
    return {
        key: Gateway(key, model.VirtualGatewaySpec.model_validate(spec), tuple(routes.get(key, ())))
        for key, spec in specs.items()
        if key.kind == GATEWAY
    }


def _listens(route: Route, listener: model.VirtualGatewayListener) -> bool:
    """A route serves the listeners of its own protocol, on ``match.port`` when it names one.

    [API] GatewayRouteSpec: "Specify one gateway route type" (http, http2, grpc, as the
    listener's ``portMapping.protocol``); HttpGatewayRouteMatch.port / GrpcGatewayRouteMatch.port:
    "The port number to match on" (needed when the gateway has several listeners).
    """
    match = (route.spec.grpcRoute or route.spec.http2Route or route.spec.httpRoute).match  # type: ignore[union-attr]
    if route.protocol != listener.portMapping.protocol:
        return False
    return match.port is None or match.port == listener.portMapping.port


def _first(candidates: Iterable[Route]) -> list[Route]:
    """The routes tried first: lowest priority number, then the longest prefix; ties kept.

    [CDK] "gateway route match is performed in the order of specified value, where 0 is the
    highest priority, and first matched gateway route is selected"; [CONTROLLER] no priority
    is 1000; [ROADMAP77] longer prefixes first. Routes without a prefix (an exact or regex
    path, a gRPC route) have no documented order among equals: a tie.
    """
    pool = list(candidates)
    if not pool:
        return []
    best = min(r.priority for r in pool)
    pool = [r for r in pool if r.priority == best]
    prefixes = [r.prefix for r in pool]
    if len(pool) > 1 and all(p is not None for p in prefixes):
        longest = max(len(p or "") for p in prefixes)
        pool = [r for r in pool if len(r.prefix or "") == longest]
    return pool


def _matches(route: Route, request: Request) -> bool:
    """Every criterion of the route's match holds (the API ANDs the members of a match)."""
    if route.spec.grpcRoute is not None:
        return request.grpc and _grpc_matches(route.spec.grpcRoute.match, request)
    http = route.spec.httpRoute or route.spec.http2Route
    assert http is not None  # one route type ([API])
    return not request.grpc and _http_matches(http.match, http.match.prefix, request)


def _http_matches(match: model.HttpGatewayRouteMatch, prefix: str | None, request: Request) -> bool:
    path = request.bare_path
    if prefix is not None and not path.startswith(prefix):
        # [API] HttpGatewayRouteMatch.prefix: "Specify the path to match requests with";
        # a string prefix ([GUIDE-VG]: /chapter also matches /chapter1, issue #22)
        return False
    if match.path is not None and not _path_matches(match.path, path):
        return False
    if match.method is not None and match.method != request.method:
        return False  # [API] HttpGatewayRouteMatch.method: "The method to match on"
    if not _host_matches(match.hostname, request.host):
        return False
    if not all(header_accepts(h, request.header(h.name)) is True for h in match.headers or ()):
        return False
    return all(_query_matches(q, request.query(q.name)) for q in match.queryParameters or ())


def _path_matches(match: model.HttpPathMatch, path: str) -> bool:
    """[API] HttpPathMatch: ``exact`` "the exact path to match on"; ``regex`` "the regex used
    to match the path", applied by Envoy's safe_regex to the whole path (RE2; Python's ``re``
    here, which agrees on the patterns RE2 accepts apart from RE2-only syntax)."""
    if match.exact is not None:
        return path == match.exact
    return full_match(match.regex or "", path)


def _host_matches(match: model.GatewayRouteHostnameMatch | None, host: str) -> bool:
    """[API] GatewayRouteHostnameMatch: ``exact`` host name, or ``suffix``: "the ending
    characters of the host name"; host names compare without case (RFC 4343)."""
    if match is None:
        return True
    host = host.lower()
    if match.exact is not None:
        return host == match.exact.lower()
    return match.suffix is not None and host.endswith(match.suffix.lower())


def header_accepts(header: Any, value: str | None) -> bool | None:
    """[API] HttpGatewayRouteHeader / GrpcGatewayRouteMetadata: a name, a match method (none:
    the header is present), and ``invert``: "match anything except the match criteria".
    None where the regex is one Python's ``re`` cannot read (RE2-only syntax)."""
    method = header.match
    if value is None:
        found = False
    elif method is None:
        found = True
    elif method.exact is not None:
        found = value == method.exact
    elif method.prefix is not None:
        found = value.startswith(method.prefix)
    elif method.suffix is not None:
        found = value.endswith(method.suffix)
    elif method.regex is not None:
        try:
            found = re.fullmatch(method.regex, value) is not None
        except re.error:
            return None
    else:
        # [API] MatchRange: "the first character of the range is included in the range,
        # though the last character is not" (start inclusive, end exclusive)
        found = bool(_INTEGER.fullmatch(value)) and method.range.start <= int(value) < method.range.end
    return found != bool(header.invert)


def _query_matches(parameter: model.HttpQueryParameter, value: str | None) -> bool:
    """[API] HttpQueryParameter: a name and an optional ``match.exact`` value (none: present)."""
    if value is None:
        return False
    return parameter.match is None or parameter.match.exact is None or value == parameter.match.exact


def _grpc_matches(match: model.GrpcGatewayRouteMatch, request: Request) -> bool:
    """[API] GrpcGatewayRouteMatch: ``serviceName`` "the fully qualified domain name for the
    service to match from the request", a hostname, metadata (as headers)."""
    if match.serviceName is not None and request.service != match.serviceName:
        return False
    if not _host_matches(match.hostname, request.host):
        return False
    return all(header_accepts(m, request.header(m.name)) is True for m in match.metadata or ())


def full_match(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False  # a pattern RE2 takes and Python does not: no match here, reported by the converter


def _forward(route: Route, request: Request) -> Routing:
    """The request as the route forwards it, and its destination (virtual service and port)."""
    spec = route.spec
    action = _action(route)
    service = action.target.virtualService.virtualServiceName
    rewrite = action.rewrite
    host = request.host
    hostname = rewrite.hostname if rewrite is not None else None
    if hostname is None or hostname.defaultTargetHostname != "DISABLED":
        # [GUIDE-VG] "rewrites the incoming request's hostname to the Gateway Route target
        # Virtual Service's name"; [API] GatewayRouteHostnameRewrite.defaultTargetHostname
        host = service
    path = request.path
    if spec.grpcRoute is None:
        path = _rewritten_path(route, request)
    return Routing(route.key.address, destination(route), path, host)


def destination(route: Route) -> str:
    """The virtual service, and the provider's listener port where the route names one
    ([API] GatewayRouteTarget.port: "The port number that corresponds to the target for
    Virtual Service provider port")."""
    target = _action(route).target
    service = target.virtualService.virtualServiceName
    return service if target.port is None else f"{service}:{target.port}"


def _action(route: Route) -> Any:
    spec = route.spec
    return (spec.grpcRoute or spec.httpRoute or spec.http2Route).action  # type: ignore[union-attr]


def _rewritten_path(route: Route, request: Request) -> str:
    """[GUIDE-VG] "the matched prefix from the Gateway Route is rewritten to ``/``, by default":
    ``/chapter`` on ``/chapter/1`` forwards ``/1``; [API] HttpGatewayRoutePrefixRewrite
    ``value`` replaces the matched prefix instead, ``defaultPrefix: DISABLED`` keeps it;
    HttpGatewayRoutePathRewrite ``exact`` replaces the whole path. The query is kept."""
    http = route.spec.httpRoute or route.spec.http2Route
    assert http is not None
    rewrite = http.action.rewrite or model.HttpGatewayRouteRewrite()
    path, query = request.bare_path, request.path[len(request.bare_path) :]
    if rewrite.path is not None and rewrite.path.exact is not None:
        return rewrite.path.exact + query
    prefix = http.match.prefix
    if prefix is None:
        return request.path
    wanted = rewrite.prefix or model.HttpGatewayRoutePrefixRewrite()
    rest = path[len(prefix) :]
    if wanted.value is not None:
        return wanted.value + rest + query
    if wanted.defaultPrefix == "DISABLED":
        return request.path
    return "/" + (rest if prefix.endswith("/") else rest.removeprefix("/")) + query
