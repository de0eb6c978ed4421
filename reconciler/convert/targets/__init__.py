"""``reconcile convert --target T``: the conversion fitted to the implementation that will run it.

The spec's answer is the conversion itself (target ``standard``). A target adds what its
profile says happens to the written fields (``rejected``, ``ignored``, ``differs``, each with
its sources) to the conversion's own findings, never replacing them; a target that evaluates
rules in list order gets its routes merged in App Mesh order; a target with a list-order
option says how to keep a priority order the spec's precedence would not. The equivalence
check then judges what the target runs (``Fitted.programmed``, ``Fitted.semantics``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ...resources import Key
from .. import equivalence, gwapi_model, precedence
from ..gatewayapi import Conversion, Converted, Finding, FindingKind
from ..precedence import PriorityConflict, Verdict
from . import check, listorder
from .profiles import NAMES, Feature, Profile, RuleOrder, TargetKind, all_profiles, profile

__all__ = ["NAMES", "Fitted", "Profile", "all_profiles", "fit", "profile"]

# Refusals of one rule that fail the whole route it is in: a route refused for one of these is
# left out of a list-order target's merged route, so the others still run.
_RULE_LEVEL = frozenset(
    {
        Feature.QUERY_MATCH,
        Feature.PATH_REGEX,
        Feature.HEADER_REGEX,
        Feature.HEADER_COUNT,
        Feature.HEADER_NAME_LENGTH,
        Feature.HEADER_VALUE_LENGTH,
        Feature.PATH_LENGTH,
        Feature.PATH_CHARACTERS,
        Feature.REGEX_SYNTAX,
    }
)


_CHANGES = frozenset(
    {
        FindingKind.LOSS,
        FindingKind.REJECTED,
        FindingKind.IGNORED,
        FindingKind.DIFFERS,
        FindingKind.UNEXPLAINED,
    }
)


@dataclass(frozen=True)
class Fitted:
    """A conversion for one target: its objects and findings, and the profile that shaped them."""

    profile: Profile
    conversion: Conversion
    found: tuple[check.Found, ...] = ()  # the target's findings, with the behaviour behind each
    conflicts: tuple[PriorityConflict, ...] = ()  # the priority orders the target will not keep
    # The objects as the target programs them, one route per App Mesh route (so a routing model
    # can say which App Mesh route each request reaches): refused routes left out, ignored
    # rewrites and hostnames removed, and on a list-order target the routes in App Mesh order.
    programmed: tuple[Converted, ...] = ()

    def behaviour_changes(self) -> list[Finding]:
        """The findings ``--strict`` fails on: behaviour lost or changed on the target."""
        return [f for f in self.conversion.findings if f.kind in _CHANGES]

    def semantics(self) -> gwapi_model.Semantics:
        """How the target matches, for the equivalence check's Gateway API model (the spec's otherwise)."""
        has = {b.feature for b in self.profile.behaviours if b.kind is TargetKind.DIFFERS}
        return gwapi_model.Semantics(
            order=gwapi_model.Order.LIST
            if self.profile.ruleOrder is RuleOrder.LIST
            else gwapi_model.Order.PRECEDENCE,
            header_values_ignore_case=Feature.HEADER_CASE in has,
            path_ignore_case=bool({Feature.PATH_CASE, Feature.GRPC_METHOD_CASE} & has),
            header_value_alternatives=Feature.HEADER_COMMA in has,
        )

    def routing(self, specs: Mapping[Key, Mapping[str, Any]]) -> equivalence.Equivalence:
        """App Mesh against what this target programs, request by request, by the target's matching."""
        run = Conversion(list(self.programmed), self.conversion.findings)
        return equivalence.check(specs, run, list(self.conflicts), self.semantics())

    def resolution(self, conflict: PriorityConflict) -> str | None:
        """How to keep App Mesh's order for a pair the spec's precedence inverts, where the target can.

        Two routes can share one route's rule list when they attach to the same listener
        with the same hostnames; the target's list-order option then keeps their order.
        """
        option = self.profile.listOrder
        if option is None or self.profile.ruleOrder is RuleOrder.LIST:
            return None
        routes = {o.source.address: o for o in self.conversion.objects if o.kind in check.ROUTE_KINDS}
        winner, other = routes.get(conflict.winner), routes.get(conflict.other)
        if winner is None or other is None or not _shareable(winner, other):
            return None
        return f"{option.how}; {conflict.winner} first"

    def as_dict(self) -> dict[str, Any]:
        """The ``target`` of ``--report json``."""
        claims = self.profile.claims()
        return {
            "name": self.profile.name,
            "implementation": self.profile.implementation,
            "version": self.profile.version,
            "ruleOrder": str(self.profile.ruleOrder),
            "conformance": None if claims is None else claims.as_dict(),
            "sources": self.profile.all_sources(),
            "notes": [n.model_dump(mode="json") for n in self.profile.notes],
        }


def fit(conversion: Conversion, specs: Mapping[Key, Mapping[str, Any]], target: Profile) -> Fitted:
    """``conversion`` as it will run on ``target``: findings added, routes merged where it needs."""
    views = check.route_views(conversion.objects, specs)
    found = check.findings(target, views, conversion.objects)
    objects = conversion.objects
    conflicts = precedence.conflicts(objects)
    if target.ruleOrder is RuleOrder.LIST:
        # the merge keeps every order App Mesh documents; only the undocumented ones stay open
        conflicts = [c for c in conflicts if c.verdict is Verdict.UNDETERMINED]
        refused = {
            f.key
            for f in found
            if f.behaviour.kind is TargetKind.REJECTED and f.behaviour.feature in _RULE_LEVEL
        }
        objects, merging = listorder.merge(target, conversion.objects, views, refused)
        found.extend(merging)
    added = [f.finding for f in found]
    fitted = Conversion(objects, [*conversion.findings, *added])
    programmed = _programmed(target, conversion.objects, found)
    return Fitted(target, fitted, tuple(found), tuple(conflicts), tuple(programmed))


def _programmed(target: Profile, objects: list[Converted], found: list[check.Found]) -> list[Converted]:
    refused = {f.key for f in found if f.behaviour.kind is TargetKind.REJECTED}
    ignored = {f.behaviour.feature for f in found if f.behaviour.kind is TargetKind.IGNORED}
    routes = [_as_run(o, ignored) for o in objects if o.kind in check.ROUTE_KINDS and o.source not in refused]
    if target.ruleOrder is RuleOrder.LIST:
        routes.sort(key=listorder.appmesh_order)
    return [o for o in objects if o.kind not in check.ROUTE_KINDS] + routes


def _as_run(route: Converted, ignored: set[Feature]) -> Converted:
    spec = dict(route.body["spec"])
    if Feature.EXTRA_HOSTNAMES in ignored and spec.get("hostnames"):
        spec["hostnames"] = spec["hostnames"][:1]
    rules = [dict(rule) for rule in spec.get("rules") or []]
    if Feature.URL_REWRITE in ignored:
        for rule in rules:
            kept = [f for f in rule.get("filters") or [] if f.get("type") != "URLRewrite"]
            rule.pop("filters", None)
            if kept:
                rule["filters"] = kept
    spec["rules"] = rules
    return replace(route, body={**route.body, "spec": spec})


def _shareable(a: Converted, b: Converted) -> bool:
    spec_a, spec_b = a.body["spec"], b.body["spec"]
    return (
        a.kind == b.kind == "HTTPRoute"
        and a.namespace == b.namespace
        and spec_a["parentRefs"] == spec_b["parentRefs"]
        and sorted(spec_a.get("hostnames") or []) == sorted(spec_b.get("hostnames") or [])
    )
