"""App Mesh's shapes: the manifest format and the API's spec structures.

This module and ``appmesh_client`` are the only places that know App Mesh. Class names
are botocore's shape names and field names are the API's JSON members, so the
conformance test can walk botocore's model and this module side by side. The
engine (load, diff, apply, watch) sees specs only as plain JSON dicts produced by
``KINDS[...]``; it never imports a class from here other than through ``Kind``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

API_VERSION = "appmesh.reconciler/v1"
OWNER_TAG = "reconciler.appmesh/owner"
# Per-resource opt-outs, as manifest annotations; the prune opt-out is also kept on the
# live resource as a tag of the same key, so it holds after the manifest is gone.
ANNOTATION_PREFIX = "reconciler.appmesh/"
RECONCILE_ANNOTATION = "reconciler.appmesh/reconcile"
PRUNE_ANNOTATION = PRUNE_TAG = "reconciler.appmesh/prune"
DISABLED = "disabled"
_ANNOTATIONS = {RECONCILE_ANNOTATION: ("enabled", DISABLED), PRUNE_ANNOTATION: ("enabled", DISABLED)}
_RESERVED_TAGS = (OWNER_TAG, PRUNE_TAG)
# Characters a reader does not see: format characters (zero-width, bidi marks), controls,
# and every kind of space (a key is compared with all of them taken out).
_INVISIBLE = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})
# Letters of other scripts drawn like the Latin letters of the reserved keys: a subset of
# Unicode's confusables (UTS #39, confusables.txt); NFKC folds fullwidth and math letters.
_CONFUSABLE = str.maketrans(
    "аесһіјорѕхуԁɡıαεικνορτℓ",
    "aechijopsxydgiaeikvoptl",
)


def _skeleton(text: str) -> str:
    """What a reader sees of ``text``: compatibility forms folded, invisibles dropped, case folded."""
    folded = unicodedata.normalize("NFKC", text)
    seen = "".join(c for c in folded if unicodedata.category(c) not in _INVISIBLE and not c.isspace())
    return seen.casefold().translate(_CONFUSABLE)


def lookalike(key: str, reserved: Iterable[str], *, prefix: bool = False) -> str | None:
    """The reserved key (or, with ``prefix``, the reserved prefix) ``key`` imitates without being it.

    Reserved names are exact: ``Reconciler.AppMesh/reconcile``, a zero-width space or a
    trailing blank would otherwise read as the reconciler's key and be treated as another.
    """
    seen = _skeleton(key)
    for name in reserved:
        if (seen.startswith(name) and not key.startswith(name)) if prefix else (seen == name != key):
            return name
    return None


class _Shape(BaseModel):
    """An API structure: unknown members rejected, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)

    def set_members(self) -> list[str]:
        """Names (API spelling) of the members this value sets."""
        return [
            info.alias or name
            for name, info in type(self).model_fields.items()
            if getattr(self, name) is not None
        ]


class _Union(_Shape):
    """A structure botocore marks as a union (``"union": true``): exactly one member is set."""

    @model_validator(mode="after")
    def _exactly_one(self) -> _Union:
        members = self.set_members()
        if len(members) != 1:
            choices = ", ".join(info.alias or n for n, info in type(self).model_fields.items())
            found = ", ".join(members) or "none"
            raise ValueError(f"set exactly one of: {choices} (found: {found})")
        return self


# --- scalar and list shapes -------------------------------------------------

AccountId = Annotated[str, Field(min_length=12, max_length=12, pattern=r"^[0-9]{12}$")]
DefaultGatewayRouteRewrite = Literal["ENABLED", "DISABLED"]
ExactHostName = Annotated[str, Field(min_length=1, max_length=253)]
FilePath = Annotated[str, Field(min_length=1, max_length=255)]
GatewayRoutePriority = Annotated[int, Field(ge=0, le=1000)]
HeaderMatch = Annotated[str, Field(min_length=1, max_length=255)]
HeaderName = Annotated[str, Field(min_length=1, max_length=50)]
HttpGatewayRoutePrefix = Annotated[str, Field(min_length=1, max_length=255)]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
HttpPathExact = Annotated[str, Field(min_length=1, max_length=255)]
HttpPathRegex = Annotated[str, Field(min_length=1, max_length=255)]
JsonKey = Annotated[str, Field(min_length=1, max_length=100)]
JsonValue = Annotated[str, Field(min_length=1, max_length=100)]
ListenerPort = Annotated[int, Field(ge=1, le=65535)]
MaxConnections = Annotated[int, Field(ge=1)]
MaxPendingRequests = Annotated[int, Field(ge=1)]
MaxRequests = Annotated[int, Field(ge=1)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
ResourceName = Annotated[str, Field(min_length=1, max_length=255)]
SubjectAlternativeName = Annotated[str, Field(min_length=1, max_length=254)]
SuffixHostname = Annotated[str, Field(min_length=1, max_length=253)]
TagKey = Annotated[str, Field(min_length=1, max_length=128)]
TagValue = Annotated[str, Field(min_length=0, max_length=256)]
AnnotationKey = Annotated[str, Field(min_length=1, max_length=253)]
AnnotationValue = Annotated[str, Field(max_length=4096)]
TextFormat = Annotated[str, Field(min_length=1, max_length=1000)]
VirtualGatewayHealthCheckIntervalMillis = Annotated[int, Field(ge=5000, le=300000)]
VirtualGatewayHealthCheckThreshold = Annotated[int, Field(ge=2, le=10)]
VirtualGatewayHealthCheckTimeoutMillis = Annotated[int, Field(ge=2000, le=60000)]
VirtualGatewayListenerTlsMode = Literal["STRICT", "PERMISSIVE", "DISABLED"]
VirtualGatewayPortProtocol = Literal["http", "http2", "grpc"]

# --- VirtualGatewaySpec -----------------------------------------------------


class VirtualGatewayListenerTlsFileCertificate(_Shape):
    certificateChain: FilePath
    privateKey: FilePath


class VirtualGatewayListenerTlsSdsCertificate(_Shape):
    secretName: str


class VirtualGatewayClientTlsCertificate(_Union):
    file: VirtualGatewayListenerTlsFileCertificate | None = None
    sds: VirtualGatewayListenerTlsSdsCertificate | None = None


class SubjectAlternativeNameMatchers(_Shape):
    exact: list[SubjectAlternativeName]


class SubjectAlternativeNames(_Shape):
    match: SubjectAlternativeNameMatchers


VirtualGatewayCertificateAuthorityArns = Annotated[list[str], Field(min_length=1, max_length=3)]


class VirtualGatewayTlsValidationContextAcmTrust(_Shape):
    certificateAuthorityArns: VirtualGatewayCertificateAuthorityArns


class VirtualGatewayTlsValidationContextFileTrust(_Shape):
    certificateChain: FilePath


class VirtualGatewayTlsValidationContextSdsTrust(_Shape):
    secretName: str


class VirtualGatewayTlsValidationContextTrust(_Union):
    acm: VirtualGatewayTlsValidationContextAcmTrust | None = None
    file: VirtualGatewayTlsValidationContextFileTrust | None = None
    sds: VirtualGatewayTlsValidationContextSdsTrust | None = None


class VirtualGatewayTlsValidationContext(_Shape):
    subjectAlternativeNames: SubjectAlternativeNames | None = None
    trust: VirtualGatewayTlsValidationContextTrust


class VirtualGatewayClientPolicyTls(_Shape):
    certificate: VirtualGatewayClientTlsCertificate | None = None
    enforce: bool | None = None
    ports: list[PortNumber] | None = None
    validation: VirtualGatewayTlsValidationContext


class VirtualGatewayClientPolicy(_Shape):
    tls: VirtualGatewayClientPolicyTls | None = None


class VirtualGatewayBackendDefaults(_Shape):
    clientPolicy: VirtualGatewayClientPolicy | None = None


class VirtualGatewayGrpcConnectionPool(_Shape):
    maxRequests: MaxRequests


class VirtualGatewayHttpConnectionPool(_Shape):
    maxConnections: MaxConnections
    maxPendingRequests: MaxPendingRequests | None = None


class VirtualGatewayHttp2ConnectionPool(_Shape):
    maxRequests: MaxRequests


class VirtualGatewayConnectionPool(_Union):
    grpc: VirtualGatewayGrpcConnectionPool | None = None
    http: VirtualGatewayHttpConnectionPool | None = None
    http2: VirtualGatewayHttp2ConnectionPool | None = None


class VirtualGatewayHealthCheckPolicy(_Shape):
    healthyThreshold: VirtualGatewayHealthCheckThreshold
    intervalMillis: VirtualGatewayHealthCheckIntervalMillis
    path: str | None = None
    port: PortNumber | None = None
    protocol: VirtualGatewayPortProtocol
    timeoutMillis: VirtualGatewayHealthCheckTimeoutMillis
    unhealthyThreshold: VirtualGatewayHealthCheckThreshold


class VirtualGatewayPortMapping(_Shape):
    port: PortNumber
    protocol: VirtualGatewayPortProtocol


class VirtualGatewayListenerTlsAcmCertificate(_Shape):
    certificateArn: str


class VirtualGatewayListenerTlsCertificate(_Union):
    acm: VirtualGatewayListenerTlsAcmCertificate | None = None
    file: VirtualGatewayListenerTlsFileCertificate | None = None
    sds: VirtualGatewayListenerTlsSdsCertificate | None = None


class VirtualGatewayListenerTlsValidationContextTrust(_Union):
    file: VirtualGatewayTlsValidationContextFileTrust | None = None
    sds: VirtualGatewayTlsValidationContextSdsTrust | None = None


class VirtualGatewayListenerTlsValidationContext(_Shape):
    subjectAlternativeNames: SubjectAlternativeNames | None = None
    trust: VirtualGatewayListenerTlsValidationContextTrust


class VirtualGatewayListenerTls(_Shape):
    certificate: VirtualGatewayListenerTlsCertificate
    mode: VirtualGatewayListenerTlsMode
    validation: VirtualGatewayListenerTlsValidationContext | None = None


class VirtualGatewayListener(_Shape):
    connectionPool: VirtualGatewayConnectionPool | None = None
    healthCheck: VirtualGatewayHealthCheckPolicy | None = None
    portMapping: VirtualGatewayPortMapping
    tls: VirtualGatewayListenerTls | None = None


class JsonFormatRef(_Shape):
    key: JsonKey
    value: JsonValue


class LoggingFormat(_Union):
    json_: list[JsonFormatRef] | None = Field(default=None, alias="json")
    text: TextFormat | None = None


class VirtualGatewayFileAccessLog(_Shape):
    format: LoggingFormat | None = None
    path: FilePath


class VirtualGatewayAccessLog(_Union):
    file: VirtualGatewayFileAccessLog | None = None


class VirtualGatewayLogging(_Shape):
    accessLog: VirtualGatewayAccessLog | None = None


class VirtualGatewaySpec(_Shape):
    backendDefaults: VirtualGatewayBackendDefaults | None = None
    listeners: list[VirtualGatewayListener]
    logging: VirtualGatewayLogging | None = None


# --- GatewayRouteSpec -------------------------------------------------------


class GatewayRouteHostnameRewrite(_Shape):
    defaultTargetHostname: DefaultGatewayRouteRewrite | None = None


class GrpcGatewayRouteRewrite(_Shape):
    hostname: GatewayRouteHostnameRewrite | None = None


class GatewayRouteVirtualService(_Shape):
    virtualServiceName: ResourceName


class GatewayRouteTarget(_Shape):
    port: ListenerPort | None = None
    virtualService: GatewayRouteVirtualService


class GrpcGatewayRouteAction(_Shape):
    rewrite: GrpcGatewayRouteRewrite | None = None
    target: GatewayRouteTarget


class GatewayRouteHostnameMatch(_Shape):
    exact: ExactHostName | None = None
    suffix: SuffixHostname | None = None


class MatchRange(_Shape):
    end: int
    start: int


class GrpcMetadataMatchMethod(_Union):
    exact: HeaderMatch | None = None
    prefix: HeaderMatch | None = None
    range: MatchRange | None = None
    regex: HeaderMatch | None = None
    suffix: HeaderMatch | None = None


class GrpcGatewayRouteMetadata(_Shape):
    invert: bool | None = None
    match: GrpcMetadataMatchMethod | None = None
    name: HeaderName


GrpcGatewayRouteMetadataList = Annotated[list[GrpcGatewayRouteMetadata], Field(min_length=1, max_length=10)]


class GrpcGatewayRouteMatch(_Shape):
    hostname: GatewayRouteHostnameMatch | None = None
    metadata: GrpcGatewayRouteMetadataList | None = None
    port: ListenerPort | None = None
    serviceName: str | None = None


class GrpcGatewayRoute(_Shape):
    action: GrpcGatewayRouteAction
    match: GrpcGatewayRouteMatch


class HttpGatewayRoutePathRewrite(_Shape):
    exact: HttpPathExact | None = None


class HttpGatewayRoutePrefixRewrite(_Shape):
    defaultPrefix: DefaultGatewayRouteRewrite | None = None
    value: HttpGatewayRoutePrefix | None = None


class HttpGatewayRouteRewrite(_Shape):
    hostname: GatewayRouteHostnameRewrite | None = None
    path: HttpGatewayRoutePathRewrite | None = None
    prefix: HttpGatewayRoutePrefixRewrite | None = None


class HttpGatewayRouteAction(_Shape):
    rewrite: HttpGatewayRouteRewrite | None = None
    target: GatewayRouteTarget


class HeaderMatchMethod(_Union):
    exact: HeaderMatch | None = None
    prefix: HeaderMatch | None = None
    range: MatchRange | None = None
    regex: HeaderMatch | None = None
    suffix: HeaderMatch | None = None


class HttpGatewayRouteHeader(_Shape):
    invert: bool | None = None
    match: HeaderMatchMethod | None = None
    name: HeaderName


HttpGatewayRouteHeaders = Annotated[list[HttpGatewayRouteHeader], Field(min_length=1, max_length=10)]


class HttpPathMatch(_Shape):
    exact: HttpPathExact | None = None
    regex: HttpPathRegex | None = None


class QueryParameterMatch(_Shape):
    exact: str | None = None


class HttpQueryParameter(_Shape):
    match: QueryParameterMatch | None = None
    name: str


HttpQueryParameters = Annotated[list[HttpQueryParameter], Field(min_length=1, max_length=10)]


class HttpGatewayRouteMatch(_Shape):
    headers: HttpGatewayRouteHeaders | None = None
    hostname: GatewayRouteHostnameMatch | None = None
    method: HttpMethod | None = None
    path: HttpPathMatch | None = None
    port: ListenerPort | None = None
    prefix: str | None = None
    queryParameters: HttpQueryParameters | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix_is_a_path(cls, prefix: str | None) -> str | None:
        # botocore, HttpGatewayRouteMatch.prefix: "This parameter must always start with /".
        if prefix is not None and not prefix.startswith("/"):
            raise ValueError(f"prefix must start with '/' (got {prefix!r})")
        return prefix


class HttpGatewayRoute(_Shape):
    action: HttpGatewayRouteAction
    match: HttpGatewayRouteMatch


class GatewayRouteSpec(_Shape):
    grpcRoute: GrpcGatewayRoute | None = None
    http2Route: HttpGatewayRoute | None = None
    httpRoute: HttpGatewayRoute | None = None
    priority: GatewayRoutePriority | None = None

    @model_validator(mode="after")
    def _one_route_type(self) -> GatewayRouteSpec:
        # botocore, GatewayRouteSpec: "Specify one gateway route type."
        kinds = [m for m in self.set_members() if m != "priority"]
        if len(kinds) != 1:
            raise ValueError(
                f"set exactly one of: grpcRoute, http2Route, httpRoute (found: {', '.join(kinds) or 'none'})"
            )
        return self


class TagRef(_Shape):
    key: TagKey
    value: TagValue


TagList = Annotated[list[TagRef], Field(min_length=0, max_length=50)]

# --- manifests --------------------------------------------------------------


class _Metadata(_Shape):
    name: ResourceName
    mesh: ResourceName
    meshOwner: AccountId | None = None
    tags: Annotated[dict[TagKey, TagValue], Field(max_length=50)] | None = None
    annotations: Annotated[dict[AnnotationKey, AnnotationValue], Field(max_length=64)] | None = None

    @field_validator("annotations")
    @classmethod
    def _known_annotations(cls, annotations: dict[str, str] | None) -> dict[str, str] | None:
        """The reconciler's own annotations are checked; any other annotation is the user's."""
        for key, value in (annotations or {}).items():
            imitated = lookalike(key, _ANNOTATIONS) or lookalike(key, [ANNOTATION_PREFIX], prefix=True)
            if imitated is not None:
                raise ValueError(f"annotation {key!a} looks like {imitated!r} but is not it exactly")
            if not key.startswith(ANNOTATION_PREFIX):
                continue
            if key not in _ANNOTATIONS:
                known = ", ".join(_ANNOTATIONS)
                raise ValueError(f"unknown annotation {key!r} (the reconciler knows: {known})")
            if value not in _ANNOTATIONS[key]:
                raise ValueError(f"annotation {key!r} is {' or '.join(_ANNOTATIONS[key])}, not {value!r}")
        return annotations

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, tags: dict[str, str] | None) -> dict[str, str] | None:
        for key in tags or {}:
            # AWS tagging rules: the aws: prefix is reserved and TagResource refuses it.
            if key.lower().startswith("aws:"):
                raise ValueError(f"tag {key!r}: the aws: prefix is reserved by AWS")
            imitated = lookalike(key, _RESERVED_TAGS)
            if imitated is not None:
                raise ValueError(f"tag {key!a} looks like the reconciler's {imitated!r} but is not it")
            if key == OWNER_TAG:  # PRODUCT.md §4: the reconciler alone sets it
                raise ValueError(f"tag {key!r} is set by the reconciler from --owner")
            if key == PRUNE_TAG:
                raise ValueError(f"tag {key!r} is set by the reconciler from the annotation of that name")
        return tags


class VirtualGatewayMetadata(_Metadata):
    pass


class GatewayRouteMetadata(_Metadata):
    virtualGateway: ResourceName


class VirtualGatewayManifest(_Shape):
    apiVersion: Literal["appmesh.reconciler/v1"]
    kind: Literal["VirtualGateway"]
    metadata: VirtualGatewayMetadata
    spec: VirtualGatewaySpec


class GatewayRouteManifest(_Shape):
    apiVersion: Literal["appmesh.reconciler/v1"]
    kind: Literal["GatewayRoute"]
    metadata: GatewayRouteMetadata
    spec: GatewayRouteSpec


# --- what the engine needs to know about each kind ---------------------------


@dataclass(frozen=True)
class Kind:
    """A resource kind as the engine sees it: how to validate and compare it."""

    name: str
    manifest: type[VirtualGatewayManifest] | type[GatewayRouteManifest]
    parent: str | None


KINDS: dict[str, Kind] = {
    "VirtualGateway": Kind("VirtualGateway", VirtualGatewayManifest, parent=None),
    "GatewayRoute": Kind("GatewayRoute", GatewayRouteManifest, parent="VirtualGateway"),
}

# Lists whose order carries no meaning in App Mesh, by member name. Each name is
# unambiguous across both specs: ``exact`` is a list only under
# subjectAlternativeNames, ``metadata`` only in a gRPC match.
UNORDERED_LISTS = frozenset(
    {"headers", "queryParameters", "metadata", "exact", "certificateAuthorityArns", "ports"}
)

# Values the service assumes when a member is absent (API reference, ClientPolicyTls
# and HttpGatewayRouteHeader/GrpcGatewayRouteMetadata), so absent and default are equal.
SERVER_DEFAULTS: dict[str, Any] = {"enforce": True, "invert": False}


def dump_spec(spec: BaseModel) -> dict[str, Any]:
    """A validated spec as the API's JSON: API member names, absent members omitted."""
    return spec.model_dump(by_alias=True, exclude_none=True, mode="json")


def manifest_schema(*others: type[BaseModel]) -> dict[str, Any]:
    """JSON Schema of a manifest document (and of ``others`` kinds), for editors."""
    kinds: Any = VirtualGatewayManifest | GatewayRouteManifest
    for other in others:
        kinds = kinds | other
    document = Annotated[kinds, Field(discriminator="kind")]
    schema = TypeAdapter(document).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "App Mesh gateway reconciler manifest"
    return schema


Loc = tuple[str | int, ...]


def dotted(loc: tuple[Any, ...]) -> str:
    """``("spec", "listeners", 0)`` → ``spec.listeners[0]``: how problems name a field."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def without_server_fills(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """``spec`` less what the service fills in by itself, so both forms compare equal.

    An HTTP match with neither ``prefix`` nor ``path`` is answered with ``prefix: "/"``
    (reported from the real service by aws-cdk users; the sandbox does the same).
    """
    route_type = next((t for t in ("httpRoute", "http2Route") if spec.get(t)), None)
    if route_type is None:
        return spec
    match = spec[route_type].get("match")
    if not isinstance(match, Mapping) or match.get("prefix") != "/" or "path" in match:
        return spec
    trimmed = {k: v for k, v in match.items() if k != "prefix"}
    return {**spec, route_type: {**spec[route_type], "match": trimmed}}
