"""Per-target profiles: what one Gateway API implementation refuses, ignores or reads differently.

A profile is data (``profiles/<name>.yaml``), never code: each behaviour names the feature it
concerns, the kind of finding it produces and at least one source (a conformance report, a
documentation page, a file of the implementation's code). An entry with no source cannot be
loaded. The Extended features an implementation claims are read from its published
conformance report (``conformance/``, bundled unmodified), not transcribed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

Source = Annotated[str, Field(min_length=1)]
Sources = Annotated[list[Source], Field(min_length=1)]

# The conformance profiles whose Extended features a route or gateway we write can use.
_ROUTE_PROFILES = ("GATEWAY-HTTP", "GATEWAY-GRPC")

# Extended features a converted App Mesh configuration uses or would need, with the App Mesh
# field each stands for (the rows of ``--list-targets``' table).
EXTENDED_FOR_APP_MESH = {
    "HTTPRouteQueryParamMatching": "match.queryParameters",
    "HTTPRouteMethodMatching": "match.method",
    "HTTPRoutePathRewrite": "action.rewrite.prefix/path (and App Mesh's default prefix rewrite)",
    "HTTPRouteHostRewrite": "action.rewrite.hostname (App Mesh sets Host by default)",
    "HTTPRouteBackendProtocolH2C": "http2 routes and listeners",
    "GatewayFrontendClientCertificateValidation": "listeners[].tls.validation (mutual TLS)",
    "BackendTLSPolicy": "backendDefaults.clientPolicy.tls",
}


class TargetKind(StrEnum):
    """What the target does with a field it does not run as the spec says."""

    REJECTED = "rejected"  # the route or rule is refused: it will not be programmed
    IGNORED = "ignored"  # accepted, without effect
    DIFFERS = "differs"  # programmed with another meaning


class Feature(StrEnum):
    """A construct of the written objects a profile can say something about."""

    PATH_REGEX = "path-regex"
    PATH_CASE = "path-case-insensitive"
    PATH_LENGTH = "path-length"
    PATH_CHARACTERS = "path-characters"
    HEADER_REGEX = "header-regex"
    HEADER_CASE = "header-value-case-insensitive"
    HEADER_COMMA = "header-value-comma-split"
    HEADER_WILDCARD = "header-value-wildcards"
    HEADER_COUNT = "header-count"
    HEADER_NAME_LENGTH = "header-name-length"
    HEADER_VALUE_LENGTH = "header-value-length"
    QUERY_MATCH = "query-match"
    URL_REWRITE = "url-rewrite"
    GRPC_SERVICE_ONLY = "grpc-service-only"
    GRPC_METHOD_CASE = "grpc-method-case-insensitive"
    REGEX_SYNTAX = "regex-syntax"
    EXTRA_HOSTNAMES = "extra-hostnames"
    CERTIFICATE_REFS = "certificate-refs"
    GRPC_WITHOUT_HTTPS = "grpc-without-https-listener"
    CROSS_NAMESPACE_GRANT = "cross-namespace-grant"
    RULES_PER_LISTENER = "rules-per-listener"
    DOMAIN_CONFLICT = "custom-domain-conflict"


class RuleOrder(StrEnum):
    SPEC = "spec"  # Gateway API's precedence decides between rules and routes
    LIST = "list"  # rules are evaluated in the order they are written


class _Data(BaseModel):
    """A profile entry: unknown keys are refused, so a misspelt one is not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Behaviour(_Data):
    """One documented way the target departs from the spec, and where that is stated."""

    feature: Feature
    kind: TargetKind
    effect: str = Field(min_length=1)  # what the target does instead, as the report says it
    sources: Sources
    limit: int | None = Field(default=None, ge=1)  # for the features that are a count or a length
    pattern: str | None = None  # for path-characters: what the target accepts, whole value
    routeKinds: tuple[str, ...] | None = None  # only these route kinds; None: all

    def applies_to(self, kind: str) -> bool:
        return self.routeKinds is None or kind in self.routeKinds

    def accepts(self, value: str) -> bool:
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


class ListOrder(_Data):
    """How to make the target keep the rules' list order, where it can."""

    how: str = Field(min_length=1)
    sources: Sources


class Note(_Data):
    text: str = Field(min_length=1)
    sources: Sources


class Profile(_Data):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    implementation: str
    version: str
    choose: str  # when to choose this target, for the README and --list-targets
    sources: Sources
    conformance: str | None = None  # the report's file name under conformance/
    conformanceNote: str | None = None
    ruleOrder: RuleOrder = RuleOrder.SPEC
    ruleOrderSources: list[Source] = Field(default_factory=list)
    listOrder: ListOrder | None = None
    behaviours: tuple[Behaviour, ...] = ()
    notes: tuple[Note, ...] = ()

    def behaviour(self, feature: Feature) -> Behaviour | None:
        return next((b for b in self.behaviours if b.feature is feature), None)

    def claims(self) -> Claims | None:
        return None if self.conformance is None else _claims(self.conformance)

    def all_sources(self) -> list[str]:
        """Every source the profile names, each once, in the order they appear."""
        found = [*self.sources, *self.ruleOrderSources]
        if self.conformance:
            found.append(f"kubernetes-sigs/gateway-api conformance/reports: {self.conformance}")
        if self.listOrder:
            found.extend(self.listOrder.sources)
        for behaviour in self.behaviours:
            found.extend(behaviour.sources)
        for note in self.notes:
            found.extend(note.sources)
        return list(dict.fromkeys(found))

    def as_dict(self) -> dict[str, Any]:
        """The profile for ``--report json`` and ``--list-targets --output json``."""
        claims = self.claims()
        return {
            "name": self.name,
            "implementation": self.implementation,
            "version": self.version,
            "choose": self.choose,
            "ruleOrder": str(self.ruleOrder),
            "conformance": None if claims is None else claims.as_dict(),
            "conformanceNote": self.conformanceNote,
            "behaviours": [b.model_dump(mode="json", exclude_none=True) for b in self.behaviours],
            "listOrder": None if self.listOrder is None else self.listOrder.model_dump(mode="json"),
            "notes": [n.model_dump(mode="json") for n in self.notes],
            "sources": self.all_sources(),
        }


@dataclass(frozen=True)
class Claims:
    """What a published conformance report says the implementation supports."""

    report: str
    gateway_api: str
    implementation_version: str
    core: dict[str, str]  # conformance profile -> core result (success, partial, ...)
    extended: tuple[str, ...]  # Extended features claimed in the route profiles, sorted

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "gatewayAPIVersion": self.gateway_api,
            "implementationVersion": self.implementation_version,
            "core": self.core,
            "extendedFeatures": list(self.extended),
        }


class ProfileError(Exception):
    """A profile or report in the package that cannot be read: a packaging defect."""


NAMES = (
    "standard",
    "envoy-gateway",
    "istio",
    "cilium",
    "nginx-gateway-fabric",
    "aws-alb",
    "vpc-lattice",
)


def profile(name: str) -> Profile:
    """The named profile, read and validated once."""
    return _profiles()[name]


def all_profiles() -> list[Profile]:
    return [profile(name) for name in NAMES]


@cache
def _profiles() -> dict[str, Profile]:
    found = {}
    for name in NAMES:
        loaded = Profile.model_validate(_package_yaml("profiles", f"{name}.yaml"))
        if loaded.name != name:
            raise ProfileError(f"profiles/{name}.yaml names itself {loaded.name!r}")
        found[name] = loaded
    return found


@cache
def _claims(report: str) -> Claims:
    document = _package_yaml("conformance", report)
    core: dict[str, str] = {}
    extended: set[str] = set()
    for entry in document.get("profiles") or []:
        core[entry["name"]] = entry["core"]["result"]
        if entry["name"] in _ROUTE_PROFILES:
            extended.update((entry.get("extended") or {}).get("supportedFeatures") or [])
    return Claims(
        report,
        str(document["gatewayAPIVersion"]),
        str(document["implementation"]["version"]),
        core,
        tuple(sorted(extended)),
    )


def _package_yaml(folder: str, name: str) -> Any:
    text = resources.files(__package__).joinpath(folder, name).read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:  # only a broken package gets here
        raise ProfileError(f"{folder}/{name}: {exc}") from exc
