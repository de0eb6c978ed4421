"""App Mesh virtual gateways and gateway routes → Kubernetes Gateway API v1 (standard channel).

The way off App Mesh. Each virtual gateway becomes a ``Gateway`` (a listener per port
mapping), each http/http2 gateway route an ``HTTPRoute`` and each grpc route a
``GRPCRoute``, with App Mesh's implicit behaviour written out (the matched prefix
rewritten to ``/``, the Host header set to the target's name). Whatever Gateway API v1
cannot say at Core or Extended support is never dropped silently: each such field is a
``loss`` finding with its field path and what the output does instead, and each value the
input does not give but the output needs (a Secret, a Service and its port) is an
``assumed`` one. Names go through ``names``' one scheme.

Like ``model`` this module knows App Mesh's shapes; it reads them through ``model``'s
classes and is used only by ``reconcile convert``, never by the engine.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import model
from ..resources import GATEWAY, ROUTE, Key
from . import appmesh_model
from . import names as names_
from .names import Rule

GROUP = "gateway.networking.k8s.io"
API_VERSION = f"{GROUP}/v1"
SOURCE_ANNOTATION = "reconciler.appmesh/converted-from"
PRIORITY_ANNOTATION = "reconciler.appmesh/priority"
HEADER = "# Converted from App Mesh by `reconcile convert --to gateway-api`; review the report.\n"
DEFAULT_PORT = 80
DEFAULT_PRIORITY = appmesh_model.DEFAULT_PRIORITY  # App Mesh's place for a route without one

# Kubernetes and Gateway API value rules (DNS-1123 labels and subdomains, Gateway API's
# Hostname and PreciseHostname, HTTPHeaderName, GRPCMethodMatch.service).
_LABEL = names_.LABEL
_HOSTNAME = names_.PATTERNS[Rule.SUBDOMAIN]
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_GRPC_SERVICE = re.compile(r"(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*")
_CLUSTER_SERVICE = re.compile(
    rf"(?P<name>[a-z]([-a-z0-9]*[a-z0-9])?)\.(?P<namespace>{_LABEL})\.svc\.cluster\.local"
)
# HTTPRoute's CEL rules on Exact and PathPrefix values (httproutes.yaml, HTTPPathMatch).
_PATH_CHARS = re.compile(r"(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+")
_PATH_FORBIDDEN = ("//", "/./", "/../", "%2f", "%2F", "#")
_ROUTE_PROTOCOL = {"httpRoute": "http", "http2Route": "http2", "grpcRoute": "grpc"}


class FindingKind(StrEnum):
    LOSS = "loss"  # App Mesh behaviour the output does not carry
    ASSUMED = "assumed"  # a value the output needs and the input does not give
    UNDETERMINED = "undetermined"  # App Mesh documents no answer to compare the output with
    NOT_CONVERTED = "not-converted"  # a route that matches no request: no object is written
    REJECTED = "rejected"  # the target implementation refuses the route or rule (--target)
    IGNORED = "ignored"  # the target accepts the field without effect (--target)
    DIFFERS = "differs"  # the target programs the field with another meaning (--target)
    UNEXPLAINED = "unexplained"  # a difference in behaviour no other finding explains


class ConversionError(Exception):
    """The input cannot be converted as given (a route without its gateway)."""


@dataclass(frozen=True)
class Finding:
    """One field of one resource that did not carry over exactly."""

    resource: str  # the App Mesh address: mesh/gateway[/route]
    field: str  # path in the App Mesh manifest, from ``spec``
    what: str  # what App Mesh did
    instead: str  # what the Gateway API output does
    kind: FindingKind = FindingKind.LOSS
    sources: tuple[str, ...] = ()  # where a target's behaviour is stated (target findings)

    def as_dict(self) -> dict[str, Any]:
        """The finding in the JSON report (``severity``: format 1.0's name of ``kind``, kept)."""
        return {
            "resource": self.resource,
            "field": self.field,
            "kind": str(self.kind),
            "severity": str(self.kind),  # the key of format 1.0, kept
            "what": self.what,
            "instead": self.instead,
            "sources": list(self.sources),
        }


_Report = Callable[..., None]

# --- the mapping file -------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ServiceRef(_Strict):
    """The Kubernetes Service that now serves a virtual service."""

    name: str = Field(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    namespace: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    port: int | None = Field(default=None, ge=1, le=65535)


SecretName = Annotated[str, Field(pattern=rf"^{_LABEL}(\.{_LABEL})*$", max_length=253)]


class ConversionMap(_Strict):
    """The ``--map`` file: virtual services → Services, listener certificates → Secrets."""

    services: dict[str, ServiceRef] = Field(default_factory=dict)
    certificates: dict[str, SecretName] = Field(default_factory=dict)  # ARN, chain path or SDS name


@dataclass(frozen=True)
class Options:
    gateway_class: str
    namespace: str | None = None  # None: each mesh's objects go to a namespace named after it
    mapping: ConversionMap = field(default_factory=ConversionMap)


# --- the result ---------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    """One Gateway API object, with where it came from."""

    source: Key
    body: dict[str, Any]
    priority: int | None = None  # a route's App Mesh priority, which Gateway API has no field for
    prefix: str | None = None  # an HTTP route's App Mesh prefix, which orders equal priorities

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])


@dataclass
class Conversion:
    objects: list[Converted] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def losses(self) -> list[Finding]:
        return [f for f in self.findings if f.kind is FindingKind.LOSS]

    def files(self, directory: Path) -> dict[Path, list[dict[str, Any]]]:
        """``<dir>/<namespace>/<gateway>.yaml``: a Gateway, then its routes and grants."""
        files: dict[Path, list[dict[str, Any]]] = {}
        gateway_of = {o.source: o for o in self.objects if o.kind == "Gateway"}
        for obj in self.objects:
            parent = obj.source.parent or obj.source
            gateway = gateway_of[parent]
            files.setdefault(directory / gateway.namespace / f"{gateway.name}.yaml", []).append(obj.body)
        return files


# --- conversion ---------------------------------------------------------------


def convert(specs: Mapping[Key, Mapping[str, Any]], options: Options) -> Conversion:
    """Every gateway and route of ``specs`` (App Mesh JSON specs, already valid) as Gateway API.

    Raises ``ConversionError`` for a route whose gateway is not in ``specs``: converted alone
    it would be attached to nothing, and writing nothing for it would look like success.
    """
    gateways = {k: model.VirtualGatewaySpec.model_validate(v) for k, v in specs.items() if k.kind == GATEWAY}
    routes = {k: model.GatewayRouteSpec.model_validate(v) for k, v in specs.items() if k.kind == ROUTE}
    orphans = sorted((k for k in routes if k.parent not in gateways), key=Key.rank)
    if orphans:
        raise ConversionError(
            "; ".join(
                f"gateway route {k.address}: its virtual gateway {k.gateway} is not in the input "
                "(convert the manifests that hold it too, or the live mesh with --mesh)"
                for k in orphans
            )
        )
    out = Conversion()
    names = _Names(specs.keys(), routes.values(), options)
    for key in sorted(gateways, key=Key.rank):
        out.objects.append(_gateway(key, gateways[key], names, options, out.findings))
    for key in sorted(routes, key=Key.rank):
        parent = key.parent
        assert parent is not None  # a route's key names its gateway
        route = _RouteConverter(key, routes[key], names, options)
        out.objects.extend(route.convert(gateways[parent]))
        out.findings.extend(route.findings)
    return out


class _Names:
    """Every name the output uses: namespaces, objects (unique per namespace), Services."""

    def __init__(
        self, keys: Iterable[Key], routes: Iterable[model.GatewayRouteSpec], options: Options
    ) -> None:
        keys = list(keys)
        self._namespaces = names_.unique((k.scope.mesh for k in keys), Rule.LABEL)
        self._fixed = options.namespace
        self._objects: dict[Key, str] = {}
        by_home: dict[tuple[str, bool], list[Key]] = defaultdict(list)
        for key in keys:
            by_home[(self.namespace(key), key.kind == GATEWAY)].append(key)
        for group in by_home.values():
            wanted = _distinct(group)
            unique = names_.unique(wanted.values(), Rule.SUBDOMAIN)
            self._objects.update({k: unique[wanted[k]] for k in group})
        guessed = {
            target.virtualService.virtualServiceName
            for route in routes
            for target in [_route_body(route).action.target]
        }
        self._services = names_.unique(guessed, Rule.SERVICE, lambda virtual: virtual.split(".", 1)[0])

    def namespace(self, key: Key) -> str:
        return self._fixed or self._namespaces[key.scope.mesh]

    def object(self, key: Key) -> str:
        return self._objects[key]

    def service(self, virtual: str) -> str:
        """The Service guessed for a virtual service: its first label, unless two would share one."""
        return self._services[virtual]


def _route_body(route: model.GatewayRouteSpec) -> model.HttpGatewayRoute | model.GrpcGatewayRoute:
    body = route.grpcRoute or route.http2Route or route.httpRoute
    assert body is not None  # the model requires exactly one route type
    return body


def _distinct(keys: list[Key]) -> dict[Key, str]:
    """Each resource's own name, qualified by its gateway, then its mesh, where names repeat."""
    qualifiers: tuple[Callable[[Key], str], ...] = (
        lambda k: k.name,
        lambda k: k.name if k.kind == GATEWAY else f"{k.gateway}-{k.name}",
        lambda k: "-".join(p for p in (k.scope.mesh, k.scope.owner, k.gateway, k.name) if p),
    )
    counts = [Counter(qualify(k) for k in keys) for qualify in qualifiers]
    wanted: dict[Key, str] = {}
    for key in keys:
        names = [qualify(key) for qualify in qualifiers]
        wanted[key] = next((n for n, c in zip(names, counts, strict=True) if c[n] == 1), names[-1])
    return wanted


def _metadata(key: Key, names: _Names, priority: int | None = None) -> dict[str, Any]:
    annotations = {SOURCE_ANNOTATION: key.address}
    if priority is not None:
        annotations[PRIORITY_ANNOTATION] = str(priority)
    return {"name": names.object(key), "namespace": names.namespace(key), "annotations": annotations}


def listener_name(mapping: model.VirtualGatewayPortMapping) -> str:
    return f"{mapping.protocol}-{mapping.port}"


def route_kind(protocol: str) -> str:
    """The route kind a listener of this App Mesh protocol accepts."""
    return "GRPCRoute" if protocol == "grpc" else "HTTPRoute"


@dataclass(frozen=True)
class _Listener:
    """An App Mesh listener and the Gateway listener it is written as."""

    mapping: model.VirtualGatewayPortMapping
    name: str  # the first listener's on its port and Gateway protocol: one per pair is admitted
    kinds: tuple[str, ...]  # the route kinds that Gateway listener accepts


def _listeners(spec: model.VirtualGatewaySpec) -> list[_Listener]:
    """Each listener's Gateway listener: Gateway's CEL rule "Combination of port, protocol and
    hostname must be unique for each listener" merges App Mesh listeners sharing both."""
    first: dict[tuple[int, str], str] = {}
    kinds: dict[str, list[str]] = defaultdict(list)
    written = []
    for listener in spec.listeners:
        mapping = listener.portMapping
        name = first.setdefault((mapping.port, _gateway_protocol(listener)), listener_name(mapping))
        if route_kind(mapping.protocol) not in kinds[name]:
            kinds[name].append(route_kind(mapping.protocol))
        written.append((mapping, name))
    return [_Listener(mapping, name, tuple(kinds[name])) for mapping, name in written]


def _gateway_protocol(listener: model.VirtualGatewayListener) -> str:
    return "HTTPS" if listener.tls is not None and listener.tls.mode != "DISABLED" else "HTTP"


def _gateway(
    key: Key, spec: model.VirtualGatewaySpec, names: _Names, options: Options, findings: list[Finding]
) -> Converted:
    def lost(path: str, what: str, instead: str, kind: FindingKind = FindingKind.LOSS) -> None:
        findings.append(Finding(key.address, path, what, instead, kind))

    listeners: dict[str, dict[str, Any]] = {}
    for i, (listener, written) in enumerate(zip(spec.listeners, _listeners(spec), strict=True)):
        at = f"spec.listeners[{i}]"
        if written.name in listeners:
            mapping = listener.portMapping
            lost(
                at,
                f"a second listener on port {mapping.port} ({mapping.protocol})",
                f"merged into listener {written.name}: Gateway API admits one listener per port, "
                "protocol and hostname",
            )
            continue
        fallback = names_.name(f"{names.object(key)}-{listener.portMapping.port}-tls", Rule.SUBDOMAIN)
        out = _listener(at, listener, fallback, options, lost)
        out["allowedRoutes"] = {
            "namespaces": {"from": "Same"},
            "kinds": [{"kind": kind} for kind in written.kinds],
        }
        listeners[written.name] = out
    policy = spec.backendDefaults.clientPolicy if spec.backendDefaults else None
    if policy is not None and policy.tls is not None:  # an empty clientPolicy {} sets nothing
        lost(
            "spec.backendDefaults.clientPolicy.tls",
            "client policy (TLS to backends)",
            "not carried: BackendTLSPolicy per Service",
        )
    if spec.logging is not None and spec.logging.accessLog is not None:
        lost("spec.logging.accessLog", "access log", "not carried: implementation-specific")
    body = {
        "apiVersion": API_VERSION,
        "kind": "Gateway",
        "metadata": _metadata(key, names),
        "spec": {"gatewayClassName": options.gateway_class, "listeners": list(listeners.values())},
    }
    return Converted(key, body)


def _listener(
    at: str, listener: model.VirtualGatewayListener, fallback: str, options: Options, lost: _Report
) -> dict[str, Any]:
    """One Gateway listener, its TLS from the App Mesh listener's (a certificate not in
    ``--map`` goes to Secret ``fallback``), and what it cannot carry."""
    mapping = listener.portMapping
    out: dict[str, Any] = {"name": listener_name(mapping), "port": mapping.port, "protocol": "HTTP"}
    if listener.tls is not None and listener.tls.mode != "DISABLED":
        out["protocol"] = "HTTPS"
        secret = _certificate_secret(listener.tls, fallback, options, f"{at}.tls", lost)
        out["tls"] = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret}]}
        if listener.tls.mode == "PERMISSIVE":
            lost(f"{at}.tls.mode", "PERMISSIVE: TLS and plaintext on the same port", "HTTPS only")
        if listener.tls.validation is not None:
            lost(
                f"{at}.tls.validation",
                "client certificates validated (mutual TLS)",
                "not carried: set Gateway spec.tls.frontend validation with a CA ConfigMap",
            )
    if mapping.protocol == "http2":
        # App Mesh's http2 listener speaks HTTP/2 without TLS (prior knowledge) and to its
        # targets; Gateway API's HTTP listener leaves h2c to the implementation, and the
        # protocol to a backend comes from the Service port's appProtocol (Gateway API
        # v1.6.1, "Backend Protocol Selection": kubernetes.io/h2c).
        lost(
            f"{at}.portMapping.protocol",
            "http2: HTTP/2 from clients without TLS (h2c) and HTTP/2 to the virtual service",
            "HTTP listener: h2c from clients is implementation-specific; give the Services' "
            "ports appProtocol: kubernetes.io/h2c for HTTP/2 to them",
        )
    for member, what in (("healthCheck", "health check"), ("connectionPool", "connection pool limits")):
        if getattr(listener, member) is not None:
            lost(f"{at}.{member}", what, "not carried: implementation-specific policy")
    return out


def _certificate_secret(
    tls: model.VirtualGatewayListenerTls, fallback: str, options: Options, at: str, lost: _Report
) -> str:
    """The Secret a listener's certificate now lives in: mapped, or named and reported."""
    certificate = tls.certificate
    if certificate.acm is not None:
        source, path, kind = certificate.acm.certificateArn, f"{at}.certificate.acm", "an ACM certificate"
    elif certificate.file is not None:
        source, path, kind = certificate.file.certificateChain, f"{at}.certificate.file", "a certificate file"
    else:
        assert certificate.sds is not None  # a union: exactly one member
        source, path, kind = certificate.sds.secretName, f"{at}.certificate.sds", "an SDS secret"
    mapped = options.mapping.certificates.get(source)
    if mapped is not None:
        return mapped
    finding = FindingKind.ASSUMED if certificate.file is not None else FindingKind.LOSS
    lost(
        path,
        f"{kind} ({source})",
        f"certificateRefs names Secret {fallback}: create it, or map the certificate",
        finding,
    )
    return fallback


# --- routes -------------------------------------------------------------------

_RouteKind = Literal["httpRoute", "http2Route", "grpcRoute"]


class _MatchesNothing(Exception):
    """Two matchers of one route that no request satisfies together."""


class _RouteConverter:
    """One gateway route → its HTTPRoute or GRPCRoute (and a ReferenceGrant across namespaces)."""

    def __init__(self, key: Key, spec: model.GatewayRouteSpec, names: _Names, options: Options) -> None:
        self.key, self.spec, self.names, self.options = key, spec, names, options
        self.findings: list[Finding] = []
        self.member: _RouteKind = (
            "grpcRoute" if spec.grpcRoute else ("http2Route" if spec.http2Route else "httpRoute")
        )

    def lost(self, path: str, what: str, instead: str, kind: FindingKind = FindingKind.LOSS) -> None:
        at = f"spec.{self.member}" + (f".{path}" if path else "")
        self.findings.append(Finding(self.key.address, at, what, instead, kind))

    def convert(self, gateway: model.VirtualGatewaySpec) -> list[Converted]:
        """The route as an HTTPRoute or GRPCRoute on ``gateway``'s listeners, with its findings recorded."""
        route = _route_body(self.spec)
        kind = "GRPCRoute" if isinstance(route, model.GrpcGatewayRoute) else "HTTPRoute"
        try:
            rule = (
                self._grpc_rule(route)
                if isinstance(route, model.GrpcGatewayRoute)
                else self._http_rule(route)
            )
        except _MatchesNothing as exc:
            self.lost(
                str(exc),
                "matches no request: its matchers contradict each other",
                "not written",
                FindingKind.NOT_CONVERTED,
            )
            return []
        match, target = route.match, route.action.target
        backend, grant = self._backend(target, kind)
        rule["backendRefs"] = [backend]
        spec: dict[str, Any] = {"parentRefs": self._parents(gateway, match.port, kind)}
        hostnames = self._hostnames(match.hostname)
        if hostnames:
            spec["hostnames"] = hostnames
        spec["rules"] = [rule]
        body = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": _metadata(self.key, self.names, self.spec.priority),
            "spec": spec,
        }
        converted = Converted(self.key, body, self.spec.priority, _app_mesh_prefix(route))
        return [converted] + ([Converted(self.key, grant)] if grant else [])

    def _parents(
        self, gateway: model.VirtualGatewaySpec, port: int | None, kind: str
    ) -> list[dict[str, Any]]:
        """The listeners App Mesh serves the route on: those of its protocol (and ``match.port``)."""
        parent = self.key.parent
        assert parent is not None
        ref: dict[str, Any] = {"name": self.names.object(parent)}
        listeners = _listeners(gateway)
        on_port = [li for li in listeners if port is None or li.mapping.port == port]
        where = f" on port {port}" if on_port and port is not None else ""
        if not on_port:
            self.lost(
                "match.port",
                f"requests on port {port}",
                "attached to every listener: the gateway has none on that port",
            )
            on_port = listeners
        protocol = _ROUTE_PROTOCOL[self.member]
        accepting = [li for li in on_port if kind in li.kinds]
        chosen = [li for li in accepting if li.mapping.protocol == protocol]
        if not accepting:
            self.lost(
                "",
                f"a {protocol} route; the gateway has no {protocol} listener{where}",
                f"the {kind} is attached to no listener: none{where} accepts a {kind}",
            )
            return [ref]
        if not chosen:
            served = ", ".join(dict.fromkeys(li.name for li in accepting))
            self.lost(
                "",
                f"a {protocol} route, served by {protocol} listeners only; the gateway has none{where}",
                f"attached to {served}, which accept every {kind}",
            )
            chosen = accepting
        sections = list(dict.fromkeys(li.name for li in chosen))
        if set(sections) == {li.name for li in listeners if kind in li.kinds}:
            return [ref]  # every listener that accepts the kind: no sectionName needed
        return [{**ref, "sectionName": name} for name in sections]

    def _hostnames(self, match: model.GatewayRouteHostnameMatch | None) -> list[str]:
        if match is None:
            return []
        if match.exact is not None:
            exact = match.exact.lower()
            if _HOSTNAME.fullmatch(exact):
                return [exact]
            self.lost(
                "match.hostname.exact",
                f"Host {match.exact!r}",
                "dropped (not a DNS name Gateway API accepts): any host matches",
            )
            return []
        suffix = (match.suffix or "").lower()
        bare = suffix.lstrip(".")
        if not _HOSTNAME.fullmatch(bare):
            self.lost(
                "match.hostname.suffix",
                f"Host ending in {match.suffix!r}",
                "dropped (no DNS name in it): any host matches",
            )
            return []
        if suffix.startswith("."):
            return [f"*.{bare}"]
        self.lost(
            "match.hostname.suffix",
            f"Host ending in {match.suffix!r}, also mid-label (e.g. 'x{bare}')",
            f"hostnames {bare} and *.{bare}: whole DNS labels only",
        )
        return [bare, f"*.{bare}"]

    def _header(self, at: str, header: Any) -> dict[str, str] | None:
        """A header (HTTP) or metadata (gRPC) match; None where it cannot be kept at all."""
        name = header.name
        if not _HEADER_NAME.fullmatch(name):
            self.lost(f"{at}.name", f"header {name!r}", "dropped: not a header name Gateway API accepts")
            return None
        if header.invert:
            self.lost(
                f"{at}.invert",
                f"requests whose {name} does NOT match",
                "dropped: Gateway API cannot negate a match",
            )
            return None
        method = header.match
        if method is None:
            self.lost(
                f"{at}.match", f"{name} present", "RegularExpression '.*' (implementation-specific support)"
            )
            return {"name": name, "type": "RegularExpression", "value": ".*"}
        if method.exact is not None:
            return {"name": name, "value": method.exact}
        if method.range is not None:
            what = f"{name} a number in [{method.range.start}, {method.range.end})"
            self.lost(f"{at}.match.range", what, "dropped: Gateway API has no range match")
            return None
        member, pattern = _as_regex(method)
        self.lost(
            f"{at}.match.{member}",
            f"{name} {member} {getattr(method, member)!r}",
            f"RegularExpression {pattern!r} (implementation-specific support)",
        )
        return {"name": name, "type": "RegularExpression", "value": pattern}

    def _headers(self, headers: list[Any] | None, kind: str) -> list[dict[str, str]]:
        """One match per header name (case-insensitive), App Mesh's AND of several merged.

        Gateway API's ``headers`` is a list map keyed by name, and of names equal but for
        case only the first counts (HTTPHeaderMatch.name); App Mesh ANDs every matcher.
        """
        groups: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for i, header in enumerate(headers or []):
            groups[header.name.lower()].append((f"match.{kind}[{i}]", header))
        kept = [self._merged(group) for group in groups.values()]
        return [h for h in kept if h is not None]

    def _merged(self, group: list[tuple[str, Any]]) -> dict[str, str] | None:
        """The one match that says what every matcher of one name says, or the first and losses."""
        exact = {h.match.exact for _, h in group if not h.invert and h.match and h.match.exact is not None}
        if len(exact) > 1:
            raise _MatchesNothing(group[0][0])
        if exact:
            (value,) = exact
            at, first = next(
                (at, h) for at, h in group if not h.invert and h.match and h.match.exact == value
            )
            for other_at, other in group:
                accepted = appmesh_model.header_accepts(other, value)
                if accepted is False:
                    raise _MatchesNothing(other_at)
                if accepted is None:
                    self.lost(
                        other_at,
                        f"{other.name} also matched by a regex, which {value!r} may not satisfy",
                        f"dropped: {first.name} exactly {value!r} is matched alone",
                    )
            return self._header(at, first)
        kept: dict[str, str] | None = None
        for at, header in sorted(group, key=lambda g: g[1].match is None):  # presence checks last
            if kept is None:
                kept = self._header(at, header)
            elif header.match is not None or header.invert:  # a presence check is implied by any match
                self.lost(
                    at,
                    f"{header.name} also matched this way (App Mesh ANDs them)",
                    f"dropped: Gateway API matches {kept['name']} once",
                )
        return kept

    def _http_rule(self, route: model.HttpGatewayRoute) -> dict[str, Any]:
        match = route.match
        out: dict[str, Any] = {}
        path = self._path(match)
        if path:
            out["path"] = path
        headers = self._headers(match.headers, "headers")
        if headers:
            out["headers"] = headers
        query = self._query(match.queryParameters)
        if query:
            out["queryParams"] = query
        if match.method is not None:
            out["method"] = match.method
        rewrite = self._http_rewrite(route, out.get("path"))
        if rewrite.get("path", {}).get("type") == "ReplacePrefixMatch":
            out.setdefault("path", {"type": "PathPrefix", "value": "/"})
        rule: dict[str, Any] = {"matches": [out]} if out else {}
        if rewrite:
            rule["filters"] = [{"type": "URLRewrite", "urlRewrite": rewrite}]
        return rule

    def _path(self, match: model.HttpGatewayRouteMatch) -> dict[str, str] | None:
        if match.path is not None and match.prefix is not None:
            self.lost(
                "match.prefix",
                f"paths starting {match.prefix!r} as well as the path match",
                "dropped: a Gateway API match has one path; the path match is kept",
            )
        if match.path is not None and match.path.exact is not None:
            return self._literal_path("match.path.exact", "Exact", match.path.exact, "$")
        if match.path is not None and match.path.regex is not None:
            # App Mesh's path regex must match the whole path; Gateway API leaves anchoring
            # to the implementation, so the output says it.
            anchored = f"^(?:{match.path.regex})$"
            self.lost(
                "match.path.regex",
                f"path regex {match.path.regex!r} (the whole path)",
                f"RegularExpression {anchored!r} (implementation-specific support)",
            )
            return {"type": "RegularExpression", "value": anchored}
        prefix = match.prefix
        if prefix is None or prefix == "/":
            return {"type": "PathPrefix", "value": "/"} if prefix else None
        if prefix.endswith("/"):
            self.lost(
                "match.prefix",
                f"paths starting {prefix!r}",
                f"PathPrefix {prefix!r}, which also matches {prefix.rstrip('/')!r} itself",
            )
        else:
            self.lost(
                "match.prefix",
                f"paths starting {prefix!r}, also mid-segment (e.g. '{prefix}x')",
                f"PathPrefix {prefix!r}: whole path segments only",
            )
        return self._literal_path("match.prefix", "PathPrefix", prefix, ".*")

    def _literal_path(self, at: str, kind: str, value: str, tail: str) -> dict[str, str]:
        """An Exact or PathPrefix path, or the same as a RegularExpression where HTTPRoute refuses it."""
        if _gateway_path(value):
            return {"type": kind, "value": value}
        pattern = f"^{_escaped(value)}{tail}"
        self.lost(at, f"path {value!r}", f"RegularExpression {pattern!r}: HTTPRoute refuses it as {kind}")
        return {"type": "RegularExpression", "value": pattern}

    def _query(self, parameters: list[model.HttpQueryParameter] | None) -> list[dict[str, str]]:
        """One match per query parameter name (case-sensitive: HTTPQueryParamMatch.name is exact)."""
        groups: dict[str, list[tuple[str, model.HttpQueryParameter]]] = defaultdict(list)
        for i, parameter in enumerate(parameters or []):
            groups[parameter.name].append((f"match.queryParameters[{i}]", parameter))
        out = []
        for name, group in groups.items():
            at = group[0][0]
            values = {p.match.exact for _, p in group if p.match is not None and p.match.exact is not None}
            if len(values) > 1:
                raise _MatchesNothing(group[1][0])
            if not _HEADER_NAME.fullmatch(name):
                self.lost(
                    f"{at}.name", f"query parameter {name!r}", "dropped: not a name Gateway API accepts"
                )
            elif values:  # a presence check beside an exact value is implied by it
                out.append({"name": name, "value": values.pop()})
            else:
                self.lost(
                    f"{at}.match",
                    f"{name} present",
                    "RegularExpression '.*' (implementation-specific support)",
                )
                out.append({"name": name, "type": "RegularExpression", "value": ".*"})
        return out

    def _http_rewrite(self, route: model.HttpGatewayRoute, path: dict[str, str] | None) -> dict[str, Any]:
        rewrite = route.action.rewrite or model.HttpGatewayRouteRewrite()
        out: dict[str, Any] = {}
        host = self._target_hostname(rewrite.hostname, route.action.target)
        if host:
            out["hostname"] = host
        if rewrite.path is not None and rewrite.path.exact is not None:
            out["path"] = {"type": "ReplaceFullPath", "replaceFullPath": rewrite.path.exact}
            if rewrite.prefix is not None:
                self.lost(
                    "action.rewrite.prefix",
                    "a prefix rewrite as well as the path rewrite",
                    "dropped: the path is replaced whole",
                )
            return out
        match = route.match
        if match.path is not None:
            if rewrite.prefix is not None:
                self.lost(
                    "action.rewrite.prefix",
                    "a prefix rewrite on a path match",
                    "dropped: ReplacePrefixMatch needs a PathPrefix match",
                )
            return out
        # App Mesh answers a match without prefix or path with prefix "/" (model.without_server_fills)
        prefix = match.prefix or "/"
        wanted = rewrite.prefix or model.HttpGatewayRoutePrefixRewrite()
        value = (
            wanted.value
            if wanted.value is not None
            else ("/" if wanted.defaultPrefix != "DISABLED" else None)
        )
        if value is None or value == prefix:
            return out
        if path is not None and path["type"] != "PathPrefix":
            self.lost(
                "action.rewrite.prefix",
                f"the matched prefix replaced by {value!r}",
                "dropped: ReplacePrefixMatch needs a PathPrefix match",
            )
            return out
        out["path"] = {"type": "ReplacePrefixMatch", "replacePrefixMatch": value}
        if prefix.endswith("/") != value.endswith("/"):
            self._string_rewrite_lost(prefix, value, wanted.value is not None)
        return out

    def _string_rewrite_lost(self, prefix: str, value: str, explicit: bool) -> None:
        """App Mesh replaces the prefix as a string; ReplacePrefixMatch by path element.

        They agree where both or neither end in ``/`` (ReplacePrefixMatch: "a trailing / is
        ignored"; HTTPRoute's HTTPPathModifier description has the table).
        """
        request = prefix.rstrip("/") + "/x"
        stem = prefix.rstrip("/")
        app_mesh = value + request[len(prefix) :]
        gateway_api = value.rstrip("/") + request[len(stem) :]
        at = "action.rewrite.prefix.value" if explicit else "action.rewrite.prefix.defaultPrefix"
        self.lost(
            at,
            f"{prefix!r} replaced by {value!r} as a string: {request!r} → {app_mesh!r}",
            f"ReplacePrefixMatch {value!r} by path element: {request!r} → {gateway_api!r}",
        )

    def _target_hostname(
        self, rewrite: model.GatewayRouteHostnameRewrite | None, target: model.GatewayRouteTarget
    ) -> str | None:
        """App Mesh sets Host to the target's name unless told not to."""
        if rewrite is not None and rewrite.defaultTargetHostname == "DISABLED":
            return None
        name = target.virtualService.virtualServiceName.lower()
        if self.member == "grpcRoute":
            self.lost(
                "action.rewrite.hostname",
                f"the :authority set to {name!r}",
                "not rewritten: GRPCRoute has no URL rewrite",
            )
            return None
        if _HOSTNAME.fullmatch(name):
            return name
        self.lost(
            "action.rewrite.hostname",
            f"Host set to {name!r}",
            "not rewritten: not a hostname Gateway API accepts",
        )
        return None

    def _grpc_rule(self, route: model.GrpcGatewayRoute) -> dict[str, Any]:
        match = route.match
        out: dict[str, Any] = {}
        if match.serviceName is not None:
            if _GRPC_SERVICE.fullmatch(match.serviceName):
                out["method"] = {"type": "Exact", "service": match.serviceName}
            else:
                self.lost(
                    "match.serviceName",
                    f"service {match.serviceName!r}",
                    "dropped: not a gRPC service name Gateway API accepts",
                )
        headers = self._headers(match.metadata, "metadata")
        if headers:
            out["headers"] = headers
        self._target_hostname(
            route.action.rewrite.hostname if route.action.rewrite else None, route.action.target
        )
        return {"matches": [out]} if out else {}

    def _backend(
        self, target: model.GatewayRouteTarget, kind: str
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The Service behind the target virtual service, and the grant a cross-namespace one needs.

        What ``--map`` says always wins; anything else is an assumption and reported.
        """
        virtual = target.virtualService.virtualServiceName
        here = self.names.namespace(self.key)
        mapped = self.options.mapping.services.get(virtual)
        found = _CLUSTER_SERVICE.fullmatch(virtual.lower())
        at = "action.target.virtualService.virtualServiceName"
        if mapped is not None:
            name, namespace = mapped.name, mapped.namespace or here
        elif found:
            name, namespace = found["name"], found["namespace"]
            self.lost(
                at,
                f"virtual service {virtual!r}, provided by a virtual node or router whose routing "
                "(routes, weights, retries, timeouts) is not in the input",
                f"Service {namespace}/{name}, as the name reads: map the virtual service to confirm",
                FindingKind.ASSUMED,
            )
        else:
            name, namespace = self.names.service(virtual), here
            self.lost(
                at,
                f"virtual service {virtual!r}",
                f"Service {namespace}/{name}: map the virtual service to its Service",
                FindingKind.ASSUMED,
            )
        port = self._backend_port(target, mapped)
        backend: dict[str, Any] = {"name": name, "port": port}
        if namespace == here:
            return backend, None
        backend["namespace"] = namespace
        return backend, self._grant(kind, namespace, name)

    def _backend_port(self, target: model.GatewayRouteTarget, mapped: ServiceRef | None) -> int:
        if mapped is not None and mapped.port is not None:
            return mapped.port
        if target.port is not None:
            self.lost(
                "action.target.port",
                f"port {target.port}, a listener of the virtual service's provider",
                f"Service port {target.port}, assumed the same: map the Service's port",
                FindingKind.ASSUMED,
            )
            return target.port
        self.lost(
            "action.target.port",
            "the port of the virtual service's provider",
            f"port {DEFAULT_PORT}: map the Service's port",
            FindingKind.ASSUMED,
        )
        return DEFAULT_PORT

    def _grant(self, kind: str, namespace: str, service: str) -> dict[str, Any]:
        here = self.names.namespace(self.key)
        raw = f"from-{here}-{kind}-{self.names.object(self.key)}"
        return {
            "apiVersion": API_VERSION,
            "kind": "ReferenceGrant",
            "metadata": {
                "name": names_.name(raw, Rule.SUBDOMAIN),
                "namespace": namespace,
                "annotations": {SOURCE_ANNOTATION: self.key.address},
            },
            "spec": {
                "from": [{"group": GROUP, "kind": kind, "namespace": here}],
                "to": [{"group": "", "kind": "Service", "name": service}],
            },
        }


def _app_mesh_prefix(route: model.HttpGatewayRoute | model.GrpcGatewayRoute) -> str | None:
    """The string prefix App Mesh matches: "/" where a match has neither prefix nor path."""
    if isinstance(route, model.GrpcGatewayRoute) or route.match.path is not None:
        return None
    return route.match.prefix or "/"


def _gateway_path(value: str) -> bool:
    """Whether HTTPRoute's CEL rules admit ``value`` as an Exact or PathPrefix path."""
    return (
        value.startswith("/")
        and _PATH_CHARS.fullmatch(value) is not None
        and not any(bad in value for bad in _PATH_FORBIDDEN)
        and not value.endswith(("/..", "/."))
    )


def _as_regex(method: Any) -> tuple[str, str]:
    """A prefix, suffix or regex header match as an anchored regular expression."""
    if method.prefix is not None:
        return "prefix", f"^{_escaped(method.prefix)}.*"
    if method.suffix is not None:
        return "suffix", f".*{_escaped(method.suffix)}$"
    return "regex", f"^(?:{method.regex})$"  # App Mesh matches the whole value


def _escaped(text: str) -> str:
    """``text`` as a literal in RE2 and ECMAScript syntax (only their metacharacters escaped)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)
