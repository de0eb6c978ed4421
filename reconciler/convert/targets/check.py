"""Which fields of the written objects a target refuses, ignores or reads differently.

Each detector finds the uses of one ``Feature`` in one written route (or gateway) and names the
App Mesh field each use came from, so a target finding points at the manifest like every other
finding. What the target does with the use, and the source saying so, come from the profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...resources import GATEWAY, Key
from ..gatewayapi import Converted, Finding, FindingKind
from .profiles import Behaviour, Feature, Profile

ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")


@dataclass(frozen=True)
class Hit:
    """One use of a feature: the App Mesh field it came from and what it is."""

    field: str
    what: str


@dataclass(frozen=True)
class RouteView:
    """A written route with the App Mesh route and the Gateway it came from."""

    key: Key
    member: str  # httpRoute, http2Route or grpcRoute
    appmesh: Mapping[str, Any]  # the App Mesh route's member: match, action
    body: Mapping[str, Any]
    gateway: Mapping[str, Any]  # the written Gateway's body

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def match(self) -> Mapping[str, Any]:
        rules = self.body["spec"].get("rules") or [{}]
        matches: list[Mapping[str, Any]] = rules[0].get("matches") or [{}]
        return matches[0]

    @property
    def filters(self) -> list[Mapping[str, Any]]:
        rules = self.body["spec"].get("rules") or [{}]
        return list(rules[0].get("filters") or [])

    @property
    def root(self) -> str:
        """The App Mesh route as a whole, for what concerns all of it."""
        return f"spec.{self.member}"

    def at(self, path: str) -> str:
        return f"{self.root}.{path}"

    def header_field(self, name: str) -> str:
        """The App Mesh header (HTTP) or metadata (gRPC) entry a written header came from."""
        member = "metadata" if self.kind == "GRPCRoute" else "headers"
        return self._named(member, name, lambda a, b: a.lower() == b.lower())

    def query_field(self, name: str) -> str:
        return self._named("queryParameters", name, str.__eq__)

    def _named(self, member: str, name: str, same: Callable[[str, str], bool]) -> str:
        entries = (self.appmesh.get("match") or {}).get(member) or []
        index = next((i for i, e in enumerate(entries) if same(str(e.get("name", "")), name)), None)
        return self.at(f"match.{member}" if index is None else f"match.{member}[{index}]")


def route_views(objects: list[Converted], specs: Mapping[Key, Mapping[str, Any]]) -> list[RouteView]:
    """Each converted route beside its App Mesh spec and its Gateway, as the profile checks read them."""
    gateways = {o.source: o.body for o in objects if o.kind == "Gateway"}
    views = []
    for obj in objects:
        if obj.kind not in ROUTE_KINDS or obj.source.parent not in gateways:
            continue
        spec = specs[obj.source]
        member = next(m for m in ("httpRoute", "http2Route", "grpcRoute") if spec.get(m))
        views.append(RouteView(obj.source, member, spec[member], obj.body, gateways[obj.source.parent]))
    return views


@dataclass(frozen=True)
class Found:
    behaviour: Behaviour
    key: Key
    finding: Finding


def findings(profile: Profile, views: list[RouteView], objects: list[Converted]) -> list[Found]:
    """Every use of a feature the profile has a behaviour for, as a finding of that kind."""
    found: list[Found] = []
    for behaviour in profile.behaviours:
        if behaviour.feature is Feature.CERTIFICATE_REFS:
            found.extend(_certificate_findings(profile, behaviour, objects))
            continue
        detect = _DETECTORS.get(behaviour.feature)
        if detect is None:
            continue  # a count over several routes, checked where they are grouped
        for view in views:
            if behaviour.applies_to(view.kind):
                found.extend(
                    Found(behaviour, view.key, finding(profile, behaviour, view.key, hit))
                    for hit in detect(view, behaviour)
                )
    return found


def finding(profile: Profile, behaviour: Behaviour, key: Key, hit: Hit) -> Finding:
    return Finding(
        key.address,
        hit.field,
        hit.what,
        f"{profile.name}: {behaviour.effect}",
        FindingKind(str(behaviour.kind)),
        tuple(behaviour.sources),
    )


def _certificate_findings(
    profile: Profile, behaviour: Behaviour, objects: list[Converted]
) -> Iterator[Found]:
    for obj in objects:
        if obj.kind != "Gateway" or obj.source.kind != GATEWAY:
            continue
        for i, listener in enumerate(obj.body["spec"]["listeners"]):
            refs = (listener.get("tls") or {}).get("certificateRefs") or []
            for ref in refs:
                hit = Hit(
                    f"spec.listeners[{i}].tls.certificate", f"listener certificate as Secret {ref['name']}"
                )
                yield Found(behaviour, obj.source, finding(profile, behaviour, obj.source, hit))


# --- detectors ----------------------------------------------------------------


def _path(view: RouteView) -> tuple[str, str, str] | None:
    """The written path match: its type, its value and the App Mesh field it came from."""
    path = view.match.get("path")
    if view.kind != "HTTPRoute" or not path:
        return None
    kind, value = path.get("type", "PathPrefix"), str(path.get("value", "/"))
    member = {"Exact": "match.path.exact", "RegularExpression": "match.path.regex"}.get(kind, "match.prefix")
    return kind, value, view.at(member)


def _literal_path(view: RouteView) -> tuple[str, str] | None:
    path = _path(view)
    return None if path is None or path[0] == "RegularExpression" else (path[1], path[2])


def _path_regex(view: RouteView, _: Behaviour) -> list[Hit]:
    path = _path(view)
    if path is None or path[0] != "RegularExpression":
        return []
    return [Hit(path[2], f"path regular expression {path[1]!r}")]


def _path_case(view: RouteView, _: Behaviour) -> list[Hit]:
    path = _literal_path(view)
    if path is None or not _cased(path[0]):
        return []
    return [Hit(path[1], f"path {path[0]!r}, compared case-sensitively by App Mesh")]


def _path_length(view: RouteView, behaviour: Behaviour) -> list[Hit]:
    path = _literal_path(view)
    if path is None or len(path[0]) <= (behaviour.limit or 0):
        return []
    return [Hit(path[1], f"path of {len(path[0])} characters (at most {behaviour.limit})")]


def _path_characters(view: RouteView, behaviour: Behaviour) -> list[Hit]:
    path = _literal_path(view)
    if path is None or behaviour.accepts(path[0]):
        return []
    return [Hit(path[1], f"path {path[0]!r}")]


def _headers(view: RouteView) -> list[Mapping[str, Any]]:
    return list(view.match.get("headers") or [])


def _exact_headers(view: RouteView) -> Iterator[tuple[Mapping[str, Any], str]]:
    for header in _headers(view):
        if header.get("type", "Exact") == "Exact":
            yield header, view.header_field(header["name"])


def _header_regex(view: RouteView, _: Behaviour) -> list[Hit]:
    return [
        Hit(view.header_field(h["name"]), f"header {h['name']} regular expression {h['value']!r}")
        for h in _headers(view)
        if h.get("type") == "RegularExpression"
    ]


def _header_case(view: RouteView, _: Behaviour) -> list[Hit]:
    return [
        Hit(at, f"header {h['name']} = {h['value']!r}, compared case-sensitively by App Mesh")
        for h, at in _exact_headers(view)
        if _cased(h["value"])
    ]


def _header_comma(view: RouteView, _: Behaviour) -> list[Hit]:
    return [
        Hit(at, f"header {h['name']} = {h['value']!r}, one value with a comma")
        for h, at in _exact_headers(view)
        if any(c == "," and (i == 0 or h["value"][i - 1] != "\\") for i, c in enumerate(h["value"]))
    ]


def _header_wildcard(view: RouteView, _: Behaviour) -> list[Hit]:
    return [
        Hit(at, f"header {h['name']} = {h['value']!r}, where '*' and '?' are literal characters")
        for h, at in _exact_headers(view)
        if "*" in h["value"] or "?" in h["value"]
    ]


def _header_count(view: RouteView, behaviour: Behaviour) -> list[Hit]:
    headers = _headers(view)
    if len(headers) <= (behaviour.limit or 0):
        return []
    member = "metadata" if view.kind == "GRPCRoute" else "headers"
    return [Hit(view.at(f"match.{member}"), f"{len(headers)} header matches (at most {behaviour.limit})")]


def _header_name_length(view: RouteView, behaviour: Behaviour) -> list[Hit]:
    limit = behaviour.limit or 0
    return [
        Hit(view.header_field(h["name"]), f"header name of {len(h['name'])} characters (at most {limit})")
        for h in _headers(view)
        if len(h["name"]) > limit
    ]


def _header_value_length(view: RouteView, behaviour: Behaviour) -> list[Hit]:
    limit = behaviour.limit or 0
    return [
        Hit(at, f"header {h['name']} value of {len(h['value'])} characters (at most {limit})")
        for h, at in _exact_headers(view)
        if len(h["value"]) > limit
    ]


def _query(view: RouteView, _: Behaviour) -> list[Hit]:
    return [
        Hit(view.query_field(q["name"]), f"query parameter {q['name']} match")
        for q in view.match.get("queryParams") or []
    ]


def _url_rewrite(view: RouteView, _: Behaviour) -> list[Hit]:
    hits = []
    for rewrite in (f.get("urlRewrite") or {} for f in view.filters if f.get("type") == "URLRewrite"):
        path = rewrite.get("path")
        if path and path.get("type") == "ReplaceFullPath":
            hits.append(Hit(view.at("action.rewrite.path"), f"path replaced by {path['replaceFullPath']!r}"))
        elif path:
            prefix = path["replacePrefixMatch"]
            hits.append(Hit(view.at("action.rewrite.prefix"), f"matched prefix rewritten to {prefix!r}"))
        if rewrite.get("hostname"):
            hits.append(Hit(view.at("action.rewrite.hostname"), f"Host set to {rewrite['hostname']!r}"))
    return hits


def _grpc_service(view: RouteView) -> tuple[str, bool] | None:
    """The written gRPC service, and whether the match names no method."""
    method = view.match.get("method")
    if view.kind != "GRPCRoute" or not method or not method.get("service"):
        return None
    return str(method["service"]), not method.get("method")


def _grpc_service_only(view: RouteView, _: Behaviour) -> list[Hit]:
    service = _grpc_service(view)
    if service is None or not service[1]:
        return []
    return [Hit(view.at("match.serviceName"), f"every method of service {service[0]!r}")]


def _grpc_case(view: RouteView, _: Behaviour) -> list[Hit]:
    service = _grpc_service(view)
    if service is None or not _cased(service[0]):
        return []
    return [
        Hit(view.at("match.serviceName"), f"service {service[0]!r}, compared case-sensitively by App Mesh")
    ]


def _regex_syntax(view: RouteView, _: Behaviour) -> list[Hit]:
    candidates = []
    path = _path(view)
    if path is not None and path[0] == "RegularExpression":
        candidates.append((path[2], path[1]))
    candidates.extend(
        (view.header_field(h["name"]), h["value"])
        for h in _headers(view)
        if h.get("type") == "RegularExpression"
    )
    candidates.extend(
        (view.query_field(q["name"]), q["value"])
        for q in view.match.get("queryParams") or []
        if q.get("type") == "RegularExpression"
    )
    hits = []
    for at, pattern in candidates:
        construct = not_re2(pattern)
        if construct is not None:
            hits.append(
                Hit(at, f"regular expression {pattern!r} uses {construct}, which RE2 does not support")
            )
    return hits


def _extra_hostnames(view: RouteView, _: Behaviour) -> list[Hit]:
    extra = list(view.body["spec"].get("hostnames") or [])[1:]
    return [Hit(view.at("match.hostname"), f"hostname {host!r}") for host in extra]


def _grpc_without_https(view: RouteView, _: Behaviour) -> list[Hit]:
    if view.kind != "GRPCRoute":
        return []
    sections = {ref.get("sectionName") for ref in view.body["spec"]["parentRefs"]}
    listeners = [li for li in view.gateway["spec"]["listeners"] if {None, li["name"]} & sections]
    if any(li["protocol"] == "HTTPS" for li in listeners):
        return []
    names = ", ".join(li["name"] for li in listeners) or "none"
    pinned = view.appmesh.get("match", {}).get("port") is not None
    return [Hit(view.at("match.port" if pinned else "match"), f"a gRPC route on listener(s) {names}")]


def _cross_namespace(view: RouteView, _: Behaviour) -> list[Hit]:
    at = view.at("action.target.virtualService.virtualServiceName")
    return [
        Hit(at, f"Service {ref['namespace']}/{ref['name']} in another namespace, through a ReferenceGrant")
        for rule in view.body["spec"].get("rules") or []
        for ref in rule.get("backendRefs") or []
        if ref.get("namespace")
    ]


def _cased(text: str) -> bool:
    return text.lower() != text.upper()


_DETECTORS: dict[Feature, Callable[[RouteView, Behaviour], list[Hit]]] = {
    Feature.PATH_REGEX: _path_regex,
    Feature.PATH_CASE: _path_case,
    Feature.PATH_LENGTH: _path_length,
    Feature.PATH_CHARACTERS: _path_characters,
    Feature.HEADER_REGEX: _header_regex,
    Feature.HEADER_CASE: _header_case,
    Feature.HEADER_COMMA: _header_comma,
    Feature.HEADER_WILDCARD: _header_wildcard,
    Feature.HEADER_COUNT: _header_count,
    Feature.HEADER_NAME_LENGTH: _header_name_length,
    Feature.HEADER_VALUE_LENGTH: _header_value_length,
    Feature.QUERY_MATCH: _query,
    Feature.URL_REWRITE: _url_rewrite,
    Feature.GRPC_SERVICE_ONLY: _grpc_service_only,
    Feature.GRPC_METHOD_CASE: _grpc_case,
    Feature.REGEX_SYNTAX: _regex_syntax,
    Feature.EXTRA_HOSTNAMES: _extra_hostnames,
    Feature.GRPC_WITHOUT_HTTPS: _grpc_without_https,
    Feature.CROSS_NAMESPACE_GRANT: _cross_namespace,
}

# RE2's syntax page marks these NOT SUPPORTED (https://github.com/google/re2/wiki/Syntax).
_GROUPS_NOT_RE2 = {
    "(?=": "a lookahead",
    "(?!": "a negative lookahead",
    "(?<=": "a lookbehind",
    "(?<!": "a negative lookbehind",
    "(?>": "an atomic group",
    "(?(": "a conditional",
    "(?P=": "a named backreference",
}


def not_re2(pattern: str) -> str | None:
    """The first construct of ``pattern`` that RE2 refuses, or None."""
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            following = pattern[i + 1 : i + 2]
            if following.isdigit() and following != "0" and not in_class:
                return f"the backreference \\{following}"
            if following in ("k", "Z", "G") and not in_class:
                return f"\\{following}"
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 2 if pattern[i + 1 : i + 2] == "]" else 1  # a leading ] is literal
            continue
        elif char == "(":
            group = next((g for g in _GROUPS_NOT_RE2 if pattern.startswith(g, i)), None)
            if group is not None:
                return _GROUPS_NOT_RE2[group]
        elif char in "*+?}" and pattern[i + 1 : i + 2] == "+":
            return "a possessive quantifier"
        i += 1
    return None
