"""How a Gateway API v1.6.1 implementation routes a request: a plain interpreter of the spec.

Each rule cites the field description it comes from, in the standard-channel CRDs
(``httproutes.yaml``, ``grpcroutes.yaml``, ``gateways.yaml``: [HTTPROUTE], [GRPCROUTE],
[GATEWAY] below, ``spec`` paths). Where the spec leaves a choice to the implementation
(RegularExpression matches, repeated headers) or the order depends on what the model cannot
know (creation timestamps), the routes concerned are returned together as a tie.

``Semantics`` holds the behaviour an implementation may choose differently; its defaults are
the spec's, and a target profile (issue #23) passes its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..resources import Key
from .gatewayapi import Converted
from .requests import Request, Routing

HTTP_ROUTE, GRPC_ROUTE = "HTTPRoute", "GRPCRoute"


class Order(StrEnum):
    PRECEDENCE = "precedence"  # [HTTPROUTE] spec.rules[].matches: the most specific match first
    LIST = "list"  # first match in the routes' and rules' list order (some implementations)


class PrefixKind(StrEnum):
    ELEMENT = "element"  # [HTTPROUTE] PathPrefix: whole path elements, a trailing "/" ignored
    STRING = "string"  # a plain string prefix (some implementations)


@dataclass(frozen=True)
class Semantics:
    """The matching behaviour of one implementation; the defaults are the spec's."""

    order: Order = Order.PRECEDENCE
    prefix: PrefixKind = PrefixKind.ELEMENT
    header_values_ignore_case: bool = False  # the spec: Exact values compare exactly
    split_header_commas: bool = False  # a list-valued header matched value by value
    regex_full_match: bool = True  # RegularExpression against the whole value (Envoy's safe_regex)
    path_ignore_case: bool = False  # the spec: paths (and gRPC's /service/method) compare exactly
    header_value_alternatives: bool = False  # an Exact value split on unescaped commas, any part matches


SPEC = Semantics()


@dataclass(frozen=True)
class _Candidate:
    route: Converted
    rule: dict[str, Any]
    match: dict[str, Any]
    hostname: str  # the route hostname the request matched; "" for a route without hostnames
    position: tuple[int, int]  # the route's position in the input, the rule's in the route


class GatewayApi:
    """The Gateways and routes of a conversion, as an implementation with ``semantics`` sees them."""

    def __init__(self, objects: Iterable[Converted], semantics: Semantics = SPEC) -> None:
        self.objects = list(objects)
        self.semantics = semantics
        self._gateways = {o.source: o for o in self.objects if o.kind == "Gateway"}
        self._routes = [o for o in self.objects if o.kind in (HTTP_ROUTE, GRPC_ROUTE)]
        self._attached: dict[tuple[str, str, str], list[tuple[int, Converted]]] = {}

    def route(self, gateway: Key, request: Request) -> tuple[Routing, ...]:
        """The outcome of ``request`` at the Gateway converted from ``gateway``: one, none, or a tie."""
        return tuple(_forward(c, request) for c in self._first(self._matching(gateway, request)))

    def matching(self, gateway: Key, request: Request) -> set[str]:
        """Every route (by its App Mesh address) that matches ``request``, chosen or not."""
        return {c.route.source.address for c in self._matching(gateway, request)}

    def _matching(self, gateway: Key, request: Request) -> list[_Candidate]:
        obj = self._gateways.get(gateway)
        if obj is None:
            return []
        listeners = [li for li in obj.body["spec"]["listeners"] if li["port"] == request.port]
        host = request.host.lower().split(":", 1)[0]  # [HTTPROUTE] spec.hostnames: the port is ignored
        return [
            c
            for listener in listeners
            if _listener_takes(listener, host)
            for c in self._candidates(obj, listener, request, host)
        ]

    def _candidates(
        self, gateway: Converted, listener: dict[str, Any], request: Request, host: str
    ) -> list[_Candidate]:
        kind = GRPC_ROUTE if request.grpc else HTTP_ROUTE
        out = []
        for position, route in self._attached_to(gateway, listener, kind):
            hostname = _route_hostname(route, listener, host)
            if hostname is None:
                continue
            for index, rule in enumerate(route.body["spec"].get("rules") or [{}]):
                for match in rule.get("matches") or [{}]:
                    if self._matches(kind, match, request):
                        out.append(_Candidate(route, rule, match, hostname, (position, index)))
        return out

    def _attached_to(
        self, gateway: Converted, listener: dict[str, Any], kind: str
    ) -> list[tuple[int, Converted]]:
        """The routes of ``kind`` attached to the listener, with their positions (computed once)."""
        key = (f"{gateway.namespace}/{gateway.name}", listener["name"], kind)
        if key not in self._attached:
            self._attached[key] = [
                (i, r)
                for i, r in enumerate(self._routes)
                if r.kind == kind and _attached(r, gateway, listener)
            ]
        return self._attached[key]

    def _matches(self, kind: str, match: dict[str, Any], request: Request) -> bool:
        """[HTTPROUTE]/[GRPCROUTE] spec.rules[].matches[]: "Multiple match types are ANDed together"."""
        headers = _first_of_each(match.get("headers") or [], str.lower)
        if not all(self._header(h, request.header(h["name"])) for h in headers):
            return False
        if kind == GRPC_ROUTE:
            return self._grpc_method(match.get("method"), request)
        if not self._path(match.get("path") or {}, request.bare_path):
            return False
        if match.get("method") is not None and match["method"] != request.method:
            return False
        # [HTTPROUTE] queryParams[].name: an exact string match; only the first entry of a name counts
        parameters = _first_of_each(match.get("queryParams") or [], lambda n: n)
        return all(self._value(q, request.query(q["name"])) for q in parameters)

    def _path(self, path: dict[str, Any], bare: str) -> bool:
        """[HTTPROUTE] matches[].path: default PathPrefix "/"; Exact; PathPrefix by element;
        RegularExpression (implementation-specific)."""
        kind, value = path.get("type", "PathPrefix"), str(path.get("value", "/"))
        if self.semantics.path_ignore_case and kind != "RegularExpression":
            bare, value = bare.lower(), value.lower()
        if kind == "Exact":
            return bare == value
        if kind == "RegularExpression":
            return self._regex(value, bare)
        if self.semantics.prefix is PrefixKind.STRING:
            return bare.startswith(value)
        return _under(bare, value)

    def _header(self, header: dict[str, Any], value: str | None) -> bool:
        if value is None:
            return False
        values = [v.strip() for v in value.split(",")] if self.semantics.split_header_commas else [value]
        if self.semantics.header_value_alternatives and header.get("type", "Exact") == "Exact":
            parts = [p.replace("\\,", ",") for p in re.split(r"(?<!\\),", header["value"])]
            return any(self._value({**header, "value": part}, v) for part in parts for v in values)
        return any(self._value(header, v) for v in values)

    def _value(self, matcher: dict[str, Any], value: str | None) -> bool:
        """[HTTPROUTE] headers[]/queryParams[].type: Exact (default) or RegularExpression."""
        if value is None:
            return False
        if matcher.get("type", "Exact") == "RegularExpression":
            return self._regex(matcher["value"], value)
        if self.semantics.header_values_ignore_case:
            return bool(value.lower() == matcher["value"].lower())
        return bool(value == matcher["value"])

    def _grpc_method(self, method: dict[str, Any] | None, request: Request) -> bool:
        """[GRPCROUTE] matches[].method: "If this field is not specified, all services and methods
        will match"; type Exact (default) or RegularExpression on ``service`` and ``method``."""
        if not method:
            return True
        regex = method.get("type") == "RegularExpression"
        fold = self.semantics.path_ignore_case and not regex
        for part, actual in (("service", request.service), ("method", request.grpc_method)):
            wanted = method.get(part)
            if wanted is None:
                continue
            if fold:
                wanted, seen = wanted.lower(), actual.lower()
            else:
                seen = actual
            if not (self._regex(wanted, seen) if regex else wanted == seen):
                return False
        return True

    def _regex(self, pattern: str, text: str) -> bool:
        try:
            found = (
                re.fullmatch(pattern, text) if self.semantics.regex_full_match else re.search(pattern, text)
            )
        except re.error:
            return False
        return found is not None

    def _first(self, candidates: list[_Candidate]) -> list[_Candidate]:
        """The candidates the spec puts first: one, or those creation time or the implementation orders."""
        if not candidates:
            return []
        if self.semantics.order is Order.LIST:
            return [min(candidates, key=lambda c: c.position)]
        plain = [c for c in candidates if not _is_regex(c)]
        best = max((_rank(c) for c in plain), default=None)
        tied = [c for c in plain if _rank(c) == best]
        # [HTTPROUTE] "The precedence of RegularExpression path matches are implementation-specific"
        tied += [c for c in candidates if _is_regex(c)]
        # [HTTPROUTE] "If ties still exist within an HTTPRoute ... the FIRST matching rule (in list order)"
        first_rule: dict[int, _Candidate] = {}
        for c in sorted(tied, key=lambda c: c.position):
            first_rule.setdefault(c.position[0], c)
        # Across routes, "the oldest Route based on creation timestamp" decides: unknown here, a tie.
        return list(first_rule.values())


def _listener_takes(listener: dict[str, Any], host: str) -> bool:
    """[GATEWAY] listeners[].hostname: absent matches every host; "*.x" a suffix of whole labels."""
    wanted = listener.get("hostname")
    return wanted is None or _host_meets(wanted, host)


def _attached(route: Converted, gateway: Converted, listener: dict[str, Any]) -> bool:
    """A parentRef naming this Gateway (and this listener, by ``sectionName``) that the listener allows.

    [HTTPROUTE] parentRefs[].sectionName: "When unspecified (empty string), this will reference
    the entire resource"; [GATEWAY] listeners[].allowedRoutes: ``kinds`` (default: those of the
    protocol), ``namespaces.from`` (default Same).
    """
    allowed = listener.get("allowedRoutes") or {}
    kinds = {k["kind"] for k in allowed.get("kinds") or [{"kind": HTTP_ROUTE}, {"kind": GRPC_ROUTE}]}
    namespaces = (allowed.get("namespaces") or {}).get("from", "Same")
    if route.kind not in kinds or (namespaces == "Same" and route.namespace != gateway.namespace):
        return False
    for ref in route.body["spec"].get("parentRefs", []):
        same = ref.get("name") == gateway.name and ref.get("namespace", route.namespace) == gateway.namespace
        if same and ref.get("sectionName") in (None, "", listener["name"]):
            return True
    return False


def _route_hostname(route: Converted, listener: dict[str, Any], host: str) -> str | None:
    """The most specific route hostname ``host`` matches ("" for a route without any); None: no match.

    [HTTPROUTE] spec.hostnames: route hostnames that do not intersect the listener's "MUST be
    ignored"; "*.example.com" matches "test.example.com" and "foo.test.example.com" but not
    "example.com"; names compare without case (RFC 1123).
    """
    names = [n.lower() for n in route.body["spec"].get("hostnames", [])]
    if listener.get("hostname"):
        names = [n for n in names if _hosts_intersect(n, listener["hostname"].lower())]
        if route.body["spec"].get("hostnames") and not names:
            return None
    if not names:
        return ""
    matching = [n for n in names if _host_meets(n, host)]
    return max(matching, key=_host_rank) if matching else None


def _host_meets(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _hosts_intersect(a: str, b: str) -> bool:
    return _host_meets(a, b.replace("*", "x", 1)) or _host_meets(b, a.replace("*", "x", 1))


def _host_rank(hostname: str) -> tuple[int, int]:
    """[HTTPROUTE] spec.hostnames: "Characters in a matching non-wildcard hostname", then
    "Characters in a matching hostname"."""
    return (0 if hostname.startswith("*") else len(hostname), len(hostname))


def _rank(c: _Candidate) -> tuple[int, ...]:
    """Larger first. [HTTPROUTE] rules[].matches: an "Exact" path, the longest "Prefix" path,
    a method, the most header matches, the most query param matches. [GRPCROUTE] rules[].matches:
    characters in the service, in the method, header matches."""
    m = c.match
    host = _host_rank(c.hostname)
    if c.route.kind == GRPC_ROUTE:
        method = m.get("method") or {}
        return (
            *host,
            len(method.get("service", "")),
            len(method.get("method", "")),
            len(m.get("headers", ())),
        )
    path = m.get("path") or {}
    return (
        *host,
        int(path.get("type") == "Exact"),
        len(path.get("value", "/")),
        int("method" in m),
        len(m.get("headers", ())),
        len(m.get("queryParams", ())),
    )


def _is_regex(c: _Candidate) -> bool:
    return bool((c.match.get("path") or {}).get("type") == "RegularExpression")


def _first_of_each(matchers: Sequence[dict[str, Any]], fold: Any) -> list[dict[str, Any]]:
    """[HTTPROUTE] headers[].name: "only the first entry with an equivalent name MUST be considered"."""
    seen: set[str] = set()
    out = []
    for m in matchers:
        if fold(m["name"]) not in seen:
            seen.add(fold(m["name"]))
            out.append(m)
    return out


def _under(path: str, prefix: str) -> bool:
    """[HTTPROUTE] PathPrefix: "/abc" matches "/abc", "/abc/" and "/abc/def", not "/abcd"."""
    stem = prefix.rstrip("/")
    return not stem or path == stem or path.startswith(stem + "/")


def _forward(c: _Candidate, request: Request) -> Routing:
    """The request after the rule's URLRewrite filter, to the rule's first backend."""
    host, path = request.host, request.path
    query = request.path[len(request.bare_path) :]
    for f in c.rule.get("filters") or []:
        if f.get("type") != "URLRewrite":
            continue
        rewrite = f["urlRewrite"]
        host = rewrite.get(
            "hostname", host
        )  # [HTTPROUTE] urlRewrite.hostname: "the value to be used to replace the Host header"
        modifier = rewrite.get("path") or {}
        if modifier.get("type") == "ReplaceFullPath":
            path = modifier["replaceFullPath"] + query
        elif modifier.get("type") == "ReplacePrefixMatch":
            matched = (c.match.get("path") or {}).get("value", "/")
            path = replace_prefix(request.bare_path, matched, modifier["replacePrefixMatch"]) + query
    refs = c.rule.get("backendRefs") or []
    destination = None
    if refs:
        ref = refs[0]
        destination = f"{ref.get('namespace', c.route.namespace)}/{ref['name']}:{ref.get('port')}"
    return Routing(c.route.source.address, destination, path, host)


def replace_prefix(path: str, prefix: str, replacement: str) -> str:
    """[HTTPROUTE] urlRewrite.path.replacePrefixMatch: "/foo/bar" with prefix "/foo" and "/xyz"
    is "/xyz/bar"; by whole elements, a trailing "/" ignored (the spec's table: "/foo/" with
    "/xyz" is "/xyz/", "/foo" with "/" or "" is "/")."""
    rest = path[len(prefix.rstrip("/")) :]
    return (replacement.rstrip("/") + rest) or "/"
