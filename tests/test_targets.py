"""`reconcile convert --target`: each implementation's refusals, no-ops and other readings, sourced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import loader
from reconciler.convert import gatewayapi, gwapi_model, precedence, report, targets
from reconciler.convert.gatewayapi import FindingKind
from reconciler.convert.requests import Request
from reconciler.convert.targets import check, profiles

from .helpers import CORPUS, ROOT, gateway, reconcile, route, write_tree

TREES = [ROOT / "manifests", *sorted(CORPUS.glob("*.yaml"))]


def _fit(tree: Path, target: str) -> tuple[gatewayapi.Conversion, targets.Fitted]:
    result = loader.load(tree)
    assert result.ok, result.problems
    specs = {k: d.spec for k, d in result.state.resources.items()}
    conversion = gatewayapi.convert(specs, gatewayapi.Options("gc"))
    return conversion, targets.fit(conversion, specs, targets.profile(target))


def _added(tree: Path, target: str) -> dict[tuple[str, str], list[gatewayapi.Finding]]:
    """The target's findings, by route name and field."""
    conversion, fitted = _fit(tree, target)
    added = fitted.conversion.findings[len(conversion.findings) :]
    assert fitted.conversion.findings[: len(conversion.findings)] == conversion.findings  # kept, in order
    by_field: dict[tuple[str, str], list[gatewayapi.Finding]] = {}
    for f in added:
        by_field.setdefault((f.resource.rsplit("/", 1)[-1], f.field), []).append(f)
    return by_field


def _tree(tmp_path: Path, *routes: dict[str, Any], listener: dict[str, Any] | None = None) -> Path:
    gw = gateway()
    if listener is not None:
        gw["spec"]["listeners"] = [listener]
    return write_tree(tmp_path, {"gw.yaml": [gw, *routes]})


def _route(name: str, priority: int | None = None, **match: Any) -> dict[str, Any]:
    doc = route(name, route_type="httpRoute")
    doc["spec"]["httpRoute"]["match"] = match
    if priority is not None:
        doc["spec"]["priority"] = priority
    return doc


def _grpc(name: str, **match: Any) -> dict[str, Any]:
    doc = route(name, route_type="grpcRoute")
    doc["spec"]["grpcRoute"]["match"] = match
    return doc


def _sourced(findings: list[gatewayapi.Finding], kind: FindingKind, source: str) -> None:
    """One of the findings at a field is of ``kind`` and cites ``source``."""
    assert any(f.kind is kind and any(source in s for s in f.sources) for f in findings), findings


def test_every_profile_loads_with_a_source_for_each_entry_and_its_reports_claims() -> None:
    loaded = targets.all_profiles()
    assert [p.name for p in loaded] == list(profiles.NAMES)
    for profile in loaded:
        assert profile.sources
        for entry in (*profile.behaviours, *profile.notes):
            assert entry.sources
            assert all(s.strip() for s in entry.sources)
    # Extended features are read from the published reports, not transcribed
    claims = {p.name: p.claims() for p in loaded}
    assert claims["standard"] is None
    envoy, ngf, alb = claims["envoy-gateway"], claims["nginx-gateway-fabric"], claims["aws-alb"]
    assert envoy is not None
    assert "HTTPRouteQueryParamMatching" in envoy.extended
    assert ngf is not None
    assert "HTTPRouteRequestTimeout" not in ngf.extended
    assert alb is not None
    assert alb.core["GATEWAY-HTTP"] == "partial"
    assert "HTTPRoutePathRewrite" not in alb.extended
    lattice = claims["vpc-lattice"]
    assert lattice is not None
    assert lattice.gateway_api == "v1.4.0"
    assert lattice.extended == ()


def test_an_entry_without_a_source_does_not_load() -> None:
    with pytest.raises(ValueError, match="sources"):
        profiles.Behaviour.model_validate(
            {"feature": "query-match", "kind": "rejected", "effect": "refused", "sources": []}
        )
    with pytest.raises(ValueError, match="feature"):
        profiles.Behaviour.model_validate(
            {"feature": "telepathy", "kind": "rejected", "effect": "x", "sources": ["a page"]}
        )


@pytest.mark.parametrize("target", profiles.NAMES)
@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_the_real_world_corpus_converts_for_every_target(tree: Path, target: str, schemas: Any) -> None:
    conversion, fitted = _fit(tree, target)
    for obj in fitted.conversion.objects:
        assert schemas.check(obj.body) == [], obj.body
    for finding in fitted.conversion.findings[len(conversion.findings) :]:
        assert finding.kind in (FindingKind.REJECTED, FindingKind.IGNORED, FindingKind.DIFFERS)
        assert finding.sources
        assert finding.field.startswith("spec")
    if target == "standard":  # the spec alone: the conversion exactly as it was
        assert fitted.conversion.objects == conversion.objects
        assert fitted.conversion.findings == conversion.findings
    specs = {k: d.spec for k, d in loader.load(tree).state.resources.items()}
    checked = fitted.routing(specs)
    assert checked.unexplained == []  # what the target changes, its findings explain


def test_vpc_lattice_rejects_query_and_regex_path_routes_and_merges_the_rest_in_app_mesh_order(
    tmp_path: Path,
) -> None:
    tree = _tree(
        tmp_path,
        _route("catch-all", priority=9, prefix="/"),
        _route("api", priority=1, prefix="/api"),
        _route("query", priority=2, prefix="/q", queryParameters=[{"name": "v", "match": {"exact": "1"}}]),
        _route("regex", priority=3, path={"regex": "/r/[0-9]+"}),
        _route("exact", priority=0, path={"exact": "/Health"}),
    )
    found = _added(tree, "vpc-lattice")
    _sourced(found["query", "spec.httpRoute.match.queryParameters[0]"], FindingKind.REJECTED, "http-route.md")
    _sourced(found["regex", "spec.httpRoute.match.path.regex"], FindingKind.REJECTED, "model_build_rule.go")
    _sourced(found["exact", "spec.httpRoute.match.path.exact"], FindingKind.DIFFERS, "case-insensitive")
    _sourced(found["api", "spec.httpRoute.action.rewrite.prefix"], FindingKind.IGNORED, "conformance-test.md")

    _, fitted = _fit(tree, "vpc-lattice")
    routes = [o for o in fitted.conversion.objects if o.kind == "HTTPRoute"]
    assert len(routes) == 1  # one gateway, one listener, no hostname: one Lattice service
    rules = routes[0].body["spec"]["rules"]
    assert [r["matches"] for r in rules] == [
        [{"path": {"type": "Exact", "value": "/Health"}}],
        [{"path": {"type": "PathPrefix", "value": "/api"}}],
        [{"path": {"type": "PathPrefix", "value": "/"}}],
    ]  # App Mesh order (0, 1, 9); the refused routes are left out, one match per rule
    annotation = routes[0].body["metadata"]["annotations"][gatewayapi.SOURCE_ANNOTATION]
    assert annotation == "apps/gw/exact, apps/gw/api, apps/gw/catch-all"
    assert fitted.conflicts == ()  # list order in App Mesh's order: every documented order kept

    beta = _route("beta", prefix="/api", headers=[{"name": "x-beta", "match": {"exact": "1"}}])
    _, undocumented = _fit(_tree(tmp_path / "tie", _route("api", prefix="/api"), beta), "vpc-lattice")
    assert [c.verdict for c in undocumented.conflicts] == [precedence.Verdict.UNDETERMINED]  # still open


def test_vpc_lattice_checks_the_rules_per_listener_quota_and_grpc_listeners(tmp_path: Path) -> None:
    many = [_route(f"r{i:02}", priority=i, prefix=f"/p{i}") for i in range(12)]
    found = _added(_tree(tmp_path / "many", *many), "vpc-lattice")
    over = sorted(name for name, field in found if field == "spec.httpRoute")
    assert over == ["r10", "r11"]  # the default quota is 10 rules per listener
    _sourced(found["r10", "spec.httpRoute"], FindingKind.REJECTED, "quotas.html")

    grpc = _tree(tmp_path / "grpc", _grpc("svc", serviceName="pkg.Svc"), listener=_listener("grpc"))
    found = _added(grpc, "vpc-lattice")
    _sourced(found["svc", "spec.grpcRoute.match"], FindingKind.REJECTED, "grpc-route.md")
    _sourced(found["svc", "spec.grpcRoute.match.serviceName"], FindingKind.DIFFERS, "grpc-route.md")


def test_vpc_lattice_refuses_a_custom_domain_name_two_services_would_share(tmp_path: Path) -> None:
    gw = gateway()
    gw["spec"]["listeners"] = [_listener("http", 80), _listener("http", 8080)]
    host = {"exact": "shop.example.com"}
    routes = [
        _route("alt", prefix="/", hostname=host, port=8080),
        _route("plain", prefix="/", hostname=host, port=80),
    ]
    found = _added(write_tree(tmp_path, {"gw.yaml": [gw, *routes]}), "vpc-lattice")
    conflicts = {name for name, field in found if field == "spec.httpRoute.match.hostname"}
    assert conflicts == {"plain"}  # one service per listener; the first (by name) keeps the domain
    conflict = found["plain", "spec.httpRoute.match.hostname"]
    _sourced(conflict, FindingKind.REJECTED, "Custom domain name conflict")


def test_the_equivalence_check_judges_what_the_target_runs(tmp_path: Path) -> None:
    headers = [{"name": "x-user", "match": {"exact": "Alice"}}]
    alice, rest = _route("alice", priority=0, prefix="/", headers=headers), _route("rest", prefix="/")
    tree = _tree(tmp_path, alice, rest, listener=_listener("http", 80))
    result = loader.load(tree)
    specs = {k: d.spec for k, d in result.state.resources.items()}

    def differences(target: str) -> list[Any]:
        _, fitted = _fit(tree, target)
        checked = fitted.routing(specs)
        other_case = {"alice", "ALICE", "aLICE", "alicE"}  # 'Alice' in another case
        return [d for d in checked.differences if d.request.header("x-user") in other_case]

    assert differences("standard") == []  # the spec compares header values exactly, as App Mesh does
    on_lattice = differences("vpc-lattice")  # Lattice takes 'aLICE' to the route App Mesh does not
    assert on_lattice
    for d in on_lattice:
        assert d.app_mesh.route == "apps/gw/rest"
        assert [o.route for o in d.gateway_api] == ["apps/gw/alice"]
        assert any(f.kind is FindingKind.DIFFERS and f.field.endswith("headers[0]") for f in d.findings)


def test_each_target_s_matching_is_what_its_profile_states(tmp_path: Path) -> None:
    def semantics(target: str) -> gwapi_model.Semantics:
        return targets.Fitted(targets.profile(target), gatewayapi.Conversion()).semantics()

    assert semantics("standard") == gwapi_model.SPEC
    lattice, alb = semantics("vpc-lattice"), semantics("aws-alb")
    assert lattice.order is gwapi_model.Order.LIST
    assert lattice.path_ignore_case
    assert lattice.header_values_ignore_case
    assert not lattice.header_value_alternatives
    assert alb.header_value_alternatives
    assert alb.header_values_ignore_case
    assert alb.order is gwapi_model.Order.PRECEDENCE

    headers = [{"name": "x-a", "match": {"exact": "one,two"}}]
    tree = _tree(tmp_path, _route("h", prefix="/Api", headers=headers), listener=_listener("http", 80))
    _, fitted = _fit(tree, "aws-alb")
    gw = next(o.source for o in fitted.programmed if o.kind == "Gateway")
    on_alb = gwapi_model.GatewayApi(fitted.programmed, alb)
    on_spec = gwapi_model.GatewayApi(fitted.programmed)
    two = Request(80, "h.example.com", "/Api", headers=(("x-a", "TWO"),))
    assert [o.route for o in on_alb.route(gw, two)] == ["apps/gw/h"]  # an alternative, any case
    assert on_spec.route(gw, two) == ()  # the spec: 'one,two' exactly
    lower = Request(80, "h.example.com", "/api", headers=(("x-a", "one,two"),))
    assert on_alb.route(gw, lower) == ()  # ALB paths stay case-sensitive
    on_lattice = gwapi_model.GatewayApi(fitted.programmed, lattice)
    assert [o.route for o in on_lattice.route(gw, lower)] == ["apps/gw/h"]  # Lattice's are not


def test_vpc_lattice_reads_header_values_case_insensitively(tmp_path: Path) -> None:
    headers = [{"name": "x-user", "match": {"exact": "Alice"}}, {"name": "x-id", "match": {"exact": "42"}}]
    found = _added(_tree(tmp_path, _route("h", prefix="/", headers=headers)), "vpc-lattice")
    _sourced(found["h", "spec.httpRoute.match.headers[0]"], FindingKind.DIFFERS, "CaseSensitive")
    assert ("h", "spec.httpRoute.match.headers[1]") not in found  # digits have no case


def test_envoy_gateway_service_only_grpc_match_and_regex_outside_re2(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        _grpc("svc", serviceName="pkg.Svc"),
        _route("look", path={"regex": "/a(?!dmin).*"}),
        listener=_listener("http2"),
    )
    found = _added(tree, "envoy-gateway")
    _sourced(
        found["svc", "spec.grpcRoute.match.serviceName"], FindingKind.DIFFERS, "processGRPCRouteMethodExact"
    )
    _sourced(found["look", "spec.httpRoute.match.path.regex"], FindingKind.REJECTED, "regex.Validate")


def test_envoy_gateway_says_how_to_keep_a_priority_order_by_list_order(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path, _route("short", priority=0, prefix="/a"), _route("long", priority=1, prefix="/a/b")
    )
    _, fitted = _fit(tree, "envoy-gateway")
    conflicts = precedence.conflicts(fitted.conversion.objects)
    assert [(c.winner, c.other) for c in conflicts] == [("apps/gw/short", "apps/gw/long")]
    how = fitted.resolution(conflicts[0])
    assert how is not None
    assert "preserveRouteOrder: true" in how
    assert how.endswith("apps/gw/short first")
    _, spec_only = _fit(tree, "standard")
    assert spec_only.resolution(conflicts[0]) is None  # the spec alone has no such option


@pytest.mark.parametrize(
    ("target", "pattern", "source"),
    [
        ("istio", "/(?=v1)", "ist0122"),
        ("cilium", "/(a)\\1", "envoy_virtual_host.go"),
    ],
)
def test_envoy_based_targets_reject_regular_expressions_re2_refuses(
    tmp_path: Path, target: str, pattern: str, source: str
) -> None:
    found = _added(_tree(tmp_path, _route("re", path={"regex": pattern})), target)
    _sourced(found["re", "spec.httpRoute.match.path.regex"], FindingKind.REJECTED, source)


def test_nginx_gateway_fabric_refuses_regex_paths_and_service_only_grpc_matches(tmp_path: Path) -> None:
    tree = _tree(tmp_path, _grpc("svc", serviceName="pkg.Svc"), listener=_listener("grpc"))
    found = _added(tree, "nginx-gateway-fabric")
    _sourced(
        found["svc", "spec.grpcRoute.match.serviceName"], FindingKind.REJECTED, "gateway-api-compatibility"
    )
    found = _added(_tree(tmp_path / "re", _route("re", path={"regex": "/r/.*"})), "nginx-gateway-fabric")
    _sourced(
        found["re", "spec.httpRoute.match.path.regex"], FindingKind.REJECTED, "Only PathPrefix and Exact"
    )


def test_aws_alb_splits_header_values_on_commas_and_takes_certificates_elsewhere(tmp_path: Path) -> None:
    headers = [
        {"name": "x-a", "match": {"exact": "one,two"}},
        {"name": "x-b", "match": {"exact": "one\\,two"}},
    ]
    found = _added(_tree(tmp_path, _route("h", prefix="/", headers=headers)), "aws-alb")
    _sourced(found["h", "spec.httpRoute.match.headers[0]"], FindingKind.DIFFERS, "l7gateway.md")
    escaped = found["h", "spec.httpRoute.match.headers[1]"]
    assert not any("l7gateway.md" in s for f in escaped for s in f.sources)  # an escaped comma: one value
    _sourced(escaped, FindingKind.DIFFERS, "case insensitive")  # ALB compares values case-insensitively
    found = _added(ROOT / "manifests", "aws-alb")
    _sourced(found["ingress-gw", "spec.listeners[0].tls.certificate"], FindingKind.IGNORED, "CertificateRefs")


def test_the_objects_as_the_target_runs_them_drop_refused_routes_and_ignored_fields(tmp_path: Path) -> None:
    _, standard = _fit(ROOT / "manifests", "standard")
    assert list(standard.programmed) == standard.conversion.objects

    _, lattice = _fit(ROOT / "manifests", "vpc-lattice")
    run = lattice.programmed
    assert not any(o.kind == "GRPCRoute" for o in run)  # no HTTPS listener: not programmed
    for obj in (o for o in run if o.kind == "HTTPRoute"):
        assert len(obj.body["spec"].get("hostnames", [])) <= 1  # the first is the custom domain
        assert all("filters" not in rule for rule in obj.body["spec"]["rules"])  # rewrites not applied
    written = [o for o in lattice.conversion.objects if o.kind == "HTTPRoute"]
    assert any("filters" in rule for o in written for rule in o.body["spec"]["rules"])  # still written

    many = [_route(f"r{i:02}", priority=11 - i, prefix=f"/p{i}") for i in range(12)]
    _, quota = _fit(_tree(tmp_path / "many", *many), "vpc-lattice")
    routes = [o.source.name for o in quota.programmed if o.kind == "HTTPRoute"]
    assert routes == [f"r{i:02}" for i in range(11, 1, -1)]  # App Mesh order, one per route, quota kept

    tree = _tree(tmp_path / "grpc", _grpc("svc", serviceName="pkg.Svc"), listener=_listener("grpc"))
    _, ngf = _fit(tree, "nginx-gateway-fabric")
    assert [o.kind for o in ngf.conversion.objects] == ["Gateway", "GRPCRoute"]  # written, for review
    assert [o.kind for o in ngf.programmed] == ["Gateway"]  # but not programmed


def test_re2_refuses_lookaround_backreferences_and_possessive_quantifiers() -> None:
    assert check.not_re2("^/api/v[0-9]+(/.*)?$") is None
    assert check.not_re2(r"\(?=literal") is None  # escaped: a literal parenthesis
    assert check.not_re2("[(?=]x") is None  # inside a class
    assert check.not_re2("/(?=v1)") == "a lookahead"
    assert check.not_re2("(?<!a)b") == "a negative lookbehind"
    assert check.not_re2(r"(a)\1") == "the backreference \\1"
    assert check.not_re2("a++") == "a possessive quantifier"


def test_list_targets_shows_every_profile_with_its_sources() -> None:
    listed = report.targets_text(targets.all_profiles())
    for name in profiles.NAMES:
        assert f"\n{name}: " in listed or listed.startswith(f"{name}: ")
    assert "HTTPRouteQueryParamMatching" in listed.splitlines()[2]  # the features table first
    assert "source: aws/aws-application-networking-k8s docs/api-types/http-route.md" in listed
    document = json.loads(report.targets_json(targets.all_profiles()))
    by_name = {t["name"]: t for t in document["targets"]}
    assert list(by_name) == list(profiles.NAMES)
    assert all(b["sources"] for t in by_name.values() for b in t["behaviours"])
    assert by_name["envoy-gateway"]["conformance"]["implementationVersion"] == "v1.9.0"


def _listener(protocol: str, port: int = 8080) -> dict[str, Any]:
    return {"portMapping": {"port": port, "protocol": protocol}}


# --- the command ------------------------------------------------------------------


def test_list_targets_needs_no_other_option_and_prints_text_or_json() -> None:
    text = reconcile("convert", "--list-targets")
    assert text.returncode == 0, text.stderr
    assert "vpc-lattice: AWS Gateway API Controller for Amazon VPC Lattice" in text.stdout
    document = json.loads(reconcile("convert", "--list-targets", "json").stdout)
    assert [t["name"] for t in document["targets"]] == list(profiles.NAMES)


def test_convert_for_a_target_reports_its_findings_and_strict_fails_on_them(tmp_path: Path) -> None:
    done = reconcile(
        "convert", "--to", "gateway-api", "-f", str(CORPUS), "-o", str(tmp_path / "out"),
        "--gateway-class", "amazon-vpc-lattice", "--target", "vpc-lattice", "--report", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["target"]["name"] == "vpc-lattice"
    assert document["target"]["version"] == "v2.0.1"
    assert document["target"]["sources"]
    rejected = [f for f in document["findings"] if f["kind"] == "rejected"]
    assert rejected
    assert all(f["sources"] for f in rejected)

    plain = route(service="svc.apps.svc.cluster.local", route_type="httpRoute")
    clean = write_tree(tmp_path / "clean", {"gw.yaml": [gateway(protocol="http"), plain]})
    args = ["convert", "--to", "gateway-api", "-f", str(clean), "--gateway-class", "gc", "--strict"]
    assert reconcile(*args, "-o", str(tmp_path / "a")).returncode == 0  # nothing lost on the spec
    on_lattice = reconcile(*args, "-o", str(tmp_path / "b"), "--target", "vpc-lattice")
    assert on_lattice.returncode == 1  # the Host rewrite App Mesh does is ignored there
    assert "ignored  spec.httpRoute.action.rewrite.hostname" in on_lattice.stdout


def test_an_unknown_target_is_a_usage_error_naming_the_known_ones(tmp_path: Path) -> None:
    done = reconcile(
        "convert", "--to", "gateway-api", "-f", str(CORPUS), "-o", str(tmp_path), "--gateway-class", "gc",
        "--target", "traefik",
    )  # fmt: skip
    assert done.returncode == 1  # a usage error, as every other
    assert "'traefik' is none of standard, envoy-gateway" in done.stderr
