"""App Mesh virtual gateways and gateway routes → Kubernetes Gateway API v1 (standard channel).

The way off App Mesh. Each virtual gateway becomes a ``Gateway`` (a listener per port
mapping), each http/http2 gateway route an ``HTTPRoute`` and each grpc route a
``GRPCRoute``, with App Mesh's implicit behaviour written out (the matched prefix
rewritten to ``/``, the Host header set to the target's name). Whatever Gateway API v1
cannot say at Core or Extended support is never dropped silently: each such field is a
``Loss`` with its field path and what the output does instead, and each value the input
does not give but the output needs (a Secret, a Service port) is an ``ASSUMED`` entry.

Like ``model`` this module knows App Mesh's shapes; it reads them through ``model``'s
classes and is used only by ``reconcile convert``, never by the engine.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import files, model
from ..resources import GATEWAY, ROUTE, Key

GROUP = "gateway.networking.k8s.io"
API_VERSION = f"{GROUP}/v1"
SOURCE_ANNOTATION = "reconciler.appmesh/converted-from"
PRIORITY_ANNOTATION = "reconciler.appmesh/priority"
HEADER = "# Converted from App Mesh by `reconcile convert --to gateway-api`; review the report.\n"
DEFAULT_PORT = 80
MAX_NAME = 200  # characters of a Kubernetes name kept before the hash suffix (the limit is 253)

# Kubernetes and Gateway API value rules (DNS-1123 labels and subdomains, Gateway API's
# Hostname and PreciseHostname, HTTPHeaderName, GRPCMethodMatch.service).
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_GRPC_SERVICE = re.compile(r"(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*")
_CLUSTER_SERVICE = re.compile(rf"(?P<name>{_LABEL})\.(?P<namespace>{_LABEL})\.svc\.cluster\.local")
_NOT_IN_NAMES = re.compile(r"[^a-z0-9.-]+")


class FindingKind(StrEnum):
    LOSS = "loss"  # App Mesh behaviour the output does not carry
    ASSUMED = "assumed"  # a value the output needs and the input does not give
    REJECTED = "rejected"  # the target implementation refuses the route or rule
    IGNORED = "ignored"  # the target accepts the field without effect
    DIFFERS = "differs"  # the target programs the field with another meaning
    UNEXPLAINED = "unexplained"  # a difference in behaviour no other finding explains


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
        return {
            "resource": self.resource,
            "field": self.field,
            "kind": str(self.kind),
            "severity": str(self.kind),  # the key before `kind`, kept for existing readers
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
    """Every gateway and route of ``specs`` (App Mesh JSON specs, already valid) as Gateway API."""
    out = Conversion()
    names = _Names(specs.keys(), options)
    gateways = {k: model.VirtualGatewaySpec.model_validate(v) for k, v in specs.items() if k.kind == GATEWAY}
    for key in sorted(gateways, key=Key.rank):
        out.objects.append(_gateway(key, gateways[key], names, options, out.findings))
    for key in sorted((k for k in specs if k.kind == ROUTE), key=Key.rank):
        parent = key.parent
        if parent not in gateways:
            out.findings.append(
                Finding(
                    key.address,
                    "metadata.virtualGateway",
                    "a route of a gateway",
                    "not converted: the gateway is not in the input",
                )
            )
            continue
        route = _RouteConverter(key, model.GatewayRouteSpec.model_validate(specs[key]), names, options)
        out.objects.extend(route.convert(gateways[parent]))
        out.findings.extend(route.findings)
    return out


class _Names:
    """Kubernetes names for App Mesh names: lowercase DNS subdomains, unique per namespace and kind."""

    def __init__(self, keys: Iterable[Key], options: Options) -> None:
        keys = list(keys)
        meshes = sorted({k.scope.mesh for k in keys})
        self._namespaces = files.safe_names(meshes, _label) if options.namespace is None else {}
        self._fixed = options.namespace
        self._objects: dict[Key, str] = {}
        by_home: dict[tuple[str, bool], list[Key]] = {}
        for key in keys:
            by_home.setdefault((self.namespace(key), key.kind == GATEWAY), []).append(key)
        for group in by_home.values():
            wanted = _distinct(group)
            safe = files.safe_names(sorted(set(wanted.values())), _subdomain)
            self._objects.update({k: safe[wanted[k]] for k in group})

    def namespace(self, key: Key) -> str:
        return self._fixed or self._namespaces[key.scope.mesh]

    def object(self, key: Key) -> str:
        return self._objects[key]


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


def _subdomain(name: str) -> str:
    lowered = _NOT_IN_NAMES.sub("-", name.lower()).strip("-.")
    return lowered[:MAX_NAME].rstrip("-.") or "x"


def _label(name: str) -> str:
    return _subdomain(name).replace(".", "-")[:52].rstrip("-") or "x"


def _metadata(key: Key, names: _Names, priority: int | None = None) -> dict[str, Any]:
    annotations = {SOURCE_ANNOTATION: key.address}
    if priority is not None:
        annotations[PRIORITY_ANNOTATION] = str(priority)
    return {"name": names.object(key), "namespace": names.namespace(key), "annotations": annotations}


def listener_name(mapping: model.VirtualGatewayPortMapping) -> str:
    return f"{mapping.protocol}-{mapping.port}"


def _gateway(
    key: Key, spec: model.VirtualGatewaySpec, names: _Names, options: Options, findings: list[Finding]
) -> Converted:
    def lost(path: str, what: str, instead: str, kind: FindingKind = FindingKind.LOSS) -> None:
        findings.append(Finding(key.address, path, what, instead, kind))

    listeners = []
    for i, listener in enumerate(spec.listeners):
        at = f"spec.listeners[{i}]"
        mapping = listener.portMapping
        out: dict[str, Any] = {"name": listener_name(mapping), "port": mapping.port, "protocol": "HTTP"}
        if listener.tls is not None and listener.tls.mode != "DISABLED":
            out["protocol"] = "HTTPS"
            secret = _certificate_secret(
                listener.tls, f"{names.object(key)}-{mapping.port}-tls", options, f"{at}.tls", lost
            )
            out["tls"] = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret}]}
            if listener.tls.mode == "PERMISSIVE":
                lost(f"{at}.tls.mode", "PERMISSIVE: TLS and plaintext on the same port", "HTTPS only")
            if listener.tls.validation is not None:
                lost(
                    f"{at}.tls.validation",
                    "client certificates validated (mutual TLS)",
                    "not carried: set Gateway spec.tls.frontend validation with a CA ConfigMap",
                )
        kind = "GRPCRoute" if mapping.protocol == "grpc" else "HTTPRoute"
        out["allowedRoutes"] = {"namespaces": {"from": "Same"}, "kinds": [{"kind": kind}]}
        for member, what in (("healthCheck", "health check"), ("connectionPool", "connection pool limits")):
            if getattr(listener, member) is not None:
                lost(f"{at}.{member}", what, "not carried: implementation-specific policy")
        listeners.append(out)
    if spec.backendDefaults is not None:
        lost(
            "spec.backendDefaults",
            "client policy (TLS to backends)",
            "not carried: BackendTLSPolicy per Service",
        )
    if spec.logging is not None:
        lost("spec.logging", "access log", "not carried: implementation-specific")
    body = {
        "apiVersion": API_VERSION,
        "kind": "Gateway",
        "metadata": _metadata(key, names),
        "spec": {"gatewayClassName": options.gateway_class, "listeners": listeners},
    }
    return Converted(key, body)


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
    kind = FindingKind.ASSUMED if certificate.file is not None else FindingKind.LOSS
    lost(
        path,
        f"{kind} ({source})",
        f"certificateRefs names Secret {fallback}: create it, or map the certificate",
        kind,
    )
    return fallback


# --- routes -------------------------------------------------------------------

_RouteKind = Literal["httpRoute", "http2Route", "grpcRoute"]


class _RouteConverter:
    """One gateway route → its HTTPRoute or GRPCRoute (and a ReferenceGrant across namespaces)."""

    def __init__(self, key: Key, spec: model.GatewayRouteSpec, names: _Names, options: Options) -> None:
        self.key, self.spec, self.names, self.options = key, spec, names, options
        self.findings: list[Finding] = []
        self.member: _RouteKind = (
            "grpcRoute" if spec.grpcRoute else ("http2Route" if spec.http2Route else "httpRoute")
        )

    def lost(self, path: str, what: str, instead: str, kind: FindingKind = FindingKind.LOSS) -> None:
        self.findings.append(Finding(self.key.address, f"spec.{self.member}.{path}", what, instead, kind))

    def convert(self, gateway: model.VirtualGatewaySpec) -> list[Converted]:
        grpc = self.spec.grpcRoute
        http = self.spec.http2Route or self.spec.httpRoute
        if grpc is not None:
            kind, rule, hostname, port, target = (
                "GRPCRoute",
                self._grpc_rule(grpc),
                grpc.match.hostname,
                grpc.match.port,
                grpc.action.target,
            )
        else:
            assert http is not None  # the model requires exactly one route type
            kind, rule, hostname, port, target = (
                "HTTPRoute",
                self._http_rule(http),
                http.match.hostname,
                http.match.port,
                http.action.target,
            )
        backend, grant = self._backend(target, kind)
        rule["backendRefs"] = [backend]
        spec: dict[str, Any] = {"parentRefs": [self._parent(gateway, port)]}
        hostnames = self._hostnames(hostname)
        if hostnames:
            spec["hostnames"] = hostnames
        spec["rules"] = [rule]
        body = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": _metadata(self.key, self.names, self.spec.priority),
            "spec": spec,
        }
        route = Converted(self.key, body, self.spec.priority)
        return [route] + ([Converted(self.key, grant)] if grant else [])

    def _parent(self, gateway: model.VirtualGatewaySpec, port: int | None) -> dict[str, Any]:
        parent = self.key.parent
        assert parent is not None
        ref: dict[str, Any] = {"name": self.names.object(parent)}
        if port is None:
            return ref
        pinned = [listener_name(li.portMapping) for li in gateway.listeners if li.portMapping.port == port]
        if pinned:
            ref["sectionName"] = pinned[0]
        else:
            self.lost(
                "match.port",
                f"requests on port {port}",
                "attached to every listener: the gateway has none on that port",
            )
        return ref

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

    def _header(self, index: int, header: Any, kind: str) -> dict[str, str] | None:
        """A header (HTTP) or metadata (gRPC) match; None where it cannot be kept at all."""
        at = f"match.{kind}[{index}]"
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
        kept = [self._header(i, h, kind) for i, h in enumerate(headers or [])]
        return [h for h in kept if h is not None]

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
        rule: dict[str, Any] = {"matches": [out]} if out else {}
        rewrite = self._http_rewrite(route)
        if rewrite:
            rule["filters"] = [{"type": "URLRewrite", "urlRewrite": rewrite}]
        return rule

    def _path(self, match: model.HttpGatewayRouteMatch) -> dict[str, str] | None:
        if match.path is not None and match.path.exact is not None:
            return {"type": "Exact", "value": match.path.exact}
        if match.path is not None and match.path.regex is not None:
            self.lost(
                "match.path.regex",
                f"path regex {match.path.regex!r}",
                "RegularExpression (implementation-specific support)",
            )
            return {"type": "RegularExpression", "value": match.path.regex}
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
        return {"type": "PathPrefix", "value": prefix}

    def _query(self, parameters: list[model.HttpQueryParameter] | None) -> list[dict[str, str]]:
        out = []
        for i, parameter in enumerate(parameters or []):
            at = f"match.queryParameters[{i}]"
            if not _HEADER_NAME.fullmatch(parameter.name):
                self.lost(
                    f"{at}.name",
                    f"query parameter {parameter.name!r}",
                    "dropped: not a name Gateway API accepts",
                )
            elif parameter.match is None or parameter.match.exact is None:
                self.lost(
                    f"{at}.match",
                    f"{parameter.name} present",
                    "RegularExpression '.*' (implementation-specific support)",
                )
                out.append({"name": parameter.name, "type": "RegularExpression", "value": ".*"})
            else:
                out.append({"name": parameter.name, "value": parameter.match.exact})
        return out

    def _http_rewrite(self, route: model.HttpGatewayRoute) -> dict[str, Any]:
        rewrite = route.action.rewrite or model.HttpGatewayRouteRewrite()
        out: dict[str, Any] = {}
        host = self._target_hostname(rewrite.hostname, route.action.target)
        if host:
            out["hostname"] = host
        prefix = route.match.prefix
        if rewrite.path is not None and rewrite.path.exact is not None:
            out["path"] = {"type": "ReplaceFullPath", "replaceFullPath": rewrite.path.exact}
        elif prefix is not None:
            wanted = rewrite.prefix or model.HttpGatewayRoutePrefixRewrite()
            value = (
                wanted.value
                if wanted.value is not None
                else ("/" if wanted.defaultPrefix != "DISABLED" else None)
            )
            if value is not None and value != prefix:
                out["path"] = {"type": "ReplacePrefixMatch", "replacePrefixMatch": value}
        return out

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
        """The Service behind the target virtual service, and the grant a cross-namespace one needs."""
        virtual = target.virtualService.virtualServiceName
        here = self.names.namespace(self.key)
        mapped = self.options.mapping.services.get(virtual)
        found = _CLUSTER_SERVICE.fullmatch(virtual.lower())
        if mapped is not None:
            name, namespace, port = mapped.name, mapped.namespace or here, target.port or mapped.port
        elif found:
            name, namespace, port = found["name"], found["namespace"], target.port
        else:
            name, namespace, port = _service_name(virtual), here, target.port
            self.lost(
                "action.target.virtualService.virtualServiceName",
                f"virtual service {virtual!r}",
                f"Service {namespace}/{name}: map the virtual service to its Service",
                FindingKind.ASSUMED,
            )
        if port is None:
            port = DEFAULT_PORT
            self.lost(
                "action.target.port",
                "the port of the virtual service's provider",
                f"port {DEFAULT_PORT}: map the Service's port",
                FindingKind.ASSUMED,
            )
        backend: dict[str, Any] = {"name": name, "port": port}
        if namespace == here:
            return backend, None
        backend["namespace"] = namespace
        return backend, self._grant(kind, namespace, name)

    def _grant(self, kind: str, namespace: str, service: str) -> dict[str, Any]:
        here = self.names.namespace(self.key)
        return {
            "apiVersion": API_VERSION,
            "kind": "ReferenceGrant",
            "metadata": {
                "name": _subdomain(f"from-{here}-{kind}-{self.names.object(self.key)}"),
                "namespace": namespace,
                "annotations": {SOURCE_ANNOTATION: self.key.address},
            },
            "spec": {
                "from": [{"group": GROUP, "kind": kind, "namespace": here}],
                "to": [{"group": "", "kind": "Service", "name": service}],
            },
        }


def _service_name(virtual: str) -> str:
    """A DNS-1035 label from a virtual service name's first label."""
    first = re.sub(r"[^a-z0-9-]+", "-", virtual.lower().split(".", 1)[0]).strip("-")[:63].rstrip("-")
    return first if first[:1].isalpha() else f"svc-{first}"[:63].rstrip("-")


def _as_regex(method: Any) -> tuple[str, str]:
    """A prefix, suffix or regex header match as an anchored regular expression."""
    if method.prefix is not None:
        return "prefix", f"^{_escaped(method.prefix)}.*"
    if method.suffix is not None:
        return "suffix", f".*{_escaped(method.suffix)}$"
    return "regex", str(method.regex)


def _escaped(text: str) -> str:
    """``text`` as a literal in RE2 and ECMAScript syntax (only their metacharacters escaped)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)
