"""`reconcile convert --to gateway-api`: real configurations convert, every object is one the
Gateway API v1.6.1 CRDs admit (OpenAPI schema and CEL rules), and the report names every
field that did not carry over and every priority order Gateway API would not keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import loader
from reconciler.convert import crdcheck, gatewayapi, names, precedence, report, targets
from reconciler.resources import Key, Scope
from reconciler.sandbox import Sandbox

from .helpers import CORPUS, ROOT, gateway, reconcile, route, write_tree


def _convert(
    tree: Path, mapping: dict[str, Any] | None = None, namespace: str | None = None
) -> gatewayapi.Conversion:
    result = loader.load(tree)
    assert result.ok, result.problems
    specs = {k: d.spec for k, d in result.state.resources.items()}
    options = gatewayapi.Options(
        "amazon-alb", namespace, gatewayapi.ConversionMap.model_validate(mapping or {})
    )
    return gatewayapi.convert(specs, options)


def _objects(conversion: gatewayapi.Conversion, kind: str) -> dict[str, dict[str, Any]]:
    return {o.source.name: o.body for o in conversion.objects if o.kind == kind}


def _fields(conversion: gatewayapi.Conversion, resource: str) -> set[str]:
    return {f.field for f in conversion.findings if f.resource == resource}


@pytest.mark.parametrize("tree", [ROOT / "manifests", *sorted(CORPUS.glob("*.yaml"))], ids=lambda p: p.name)
def test_every_example_and_real_world_configuration_converts_to_objects_the_crds_admit(
    tree: Path, schemas: crdcheck.Schemas
) -> None:
    conversion = _convert(tree)
    state = loader.load(tree).state
    assert {o.source for o in conversion.objects} == set(state.resources)  # nothing silently left out
    for obj in conversion.objects:
        assert schemas.check(obj.body) == [], obj.body


def test_a_header_invert_and_a_range_match_are_reported_with_both_field_paths() -> None:
    # terraform-provider-aws's _http2RouteUpdated acceptance configuration (tests/corpus)
    conversion = _convert(CORPUS / "terraform-provider-aws-gateway-routes.yaml")
    found = {
        (f.field, f.kind)
        for f in conversion.findings
        if f.resource == "tf-acc-test/tf-acc-http2-vg/http2-headers"
    }
    assert ("spec.http2Route.match.headers[0].invert", gatewayapi.FindingKind.LOSS) in found
    assert ("spec.http2Route.match.headers[1].match.range", gatewayapi.FindingKind.LOSS) in found
    rule = _objects(conversion, "HTTPRoute")["http2-headers"]["spec"]["rules"][0]
    assert "headers" not in rule["matches"][0]  # both dropped, as the report says


def test_app_mesh_defaults_are_written_out_and_disabled_ones_are_not() -> None:
    routes = _objects(_convert(CORPUS / "terraform-provider-aws-gateway-routes.yaml"), "HTTPRoute")
    # default: Host set to the target's name; prefix "/" needs no rewrite
    assert routes["http2-query-parameter"]["spec"]["rules"][0]["filters"] == [
        {"type": "URLRewrite", "urlRewrite": {"hostname": "tf-acc-test-0.local"}}
    ]
    assert "filters" not in routes["http2-rewrite"]["spec"]["rules"][0]  # both rewrites DISABLED
    full = routes["http2-rewrite-path"]["spec"]["rules"][0]
    assert full["matches"] == [{"path": {"type": "Exact", "value": "/match_path"}}]
    assert full["filters"][0]["urlRewrite"]["path"] == {
        "type": "ReplaceFullPath",
        "replaceFullPath": "/rewrite_path",
    }


def test_a_matched_prefix_is_rewritten_to_slash_and_a_port_match_pins_the_listener() -> None:
    # aws-app-mesh-examples howto-multiple-listeners: two listeners, routes pinned by port
    conversion = _convert(CORPUS / "app-mesh-examples-multiple-listeners.yaml")
    listeners = _objects(conversion, "Gateway")["tellergateway-vg"]["spec"]["listeners"]
    assert [(li["name"], li["port"]) for li in listeners] == [("http-1111", 1111), ("http-2222", 2222)]
    fruit = _objects(conversion, "HTTPRoute")["fruit-gateway-route"]["spec"]
    assert fruit["parentRefs"] == [{"name": "tellergateway-vg", "sectionName": "http-1111"}]
    assert fruit["rules"][0]["filters"][0]["urlRewrite"]["path"] == {
        "type": "ReplacePrefixMatch",
        "replacePrefixMatch": "/",
    }
    assert fruit["rules"][0]["backendRefs"] == [{"name": "foodteller", "port": 3333}]
    # App Mesh's /fruit also matched /fruitcake; PathPrefix matches whole segments
    assert "spec.httpRoute.match.prefix" in _fields(
        conversion, "howto-multiple-listeners/tellergateway-vg/fruit-gateway-route"
    )


def test_hostname_suffixes_become_wildcards_only_where_they_are_whole_labels() -> None:
    grpc = _objects(_convert(CORPUS / "aws-cdk-appmesh-readme.yaml"), "GRPCRoute")
    assert grpc["gateway-route-grpc"]["spec"]["hostnames"] == ["*.example.com"]
    assert grpc["gateway-route-grpc-exact"]["spec"]["hostnames"] == ["example.com"]
    conversion = _convert(ROOT / "manifests")
    assert _objects(conversion, "HTTPRoute")["payments-api"]["spec"]["hostnames"] == [
        "example.com",
        "*.example.com",
    ]
    assert "spec.httpRoute.match.hostname.suffix" in _fields(conversion, "apps/ingress-gw/payments-api")


def test_grpc_hostname_rewrite_and_tls_sources_are_losses(tmp_path: Path) -> None:
    conversion = _convert(CORPUS / "aws-cdk-appmesh-readme.yaml")
    assert "spec.grpcRoute.action.rewrite.hostname" in _fields(
        conversion, "cdk-mesh/virtualGateway/gateway-route-grpc"
    )
    # the same route with the rewrite disabled loses nothing there
    assert "spec.grpcRoute.action.rewrite.hostname" not in _fields(
        conversion, "cdk-mesh/virtualGateway/gateway-route-grpc-exact"
    )
    ingress = _convert(ROOT / "manifests")
    acm = [f for f in ingress.findings if f.field == "spec.listeners[0].tls.certificate.acm"]
    assert [f.kind for f in acm] == [gatewayapi.FindingKind.LOSS]
    tls = _objects(ingress, "Gateway")["ingress-gw"]["spec"]["listeners"][0]["tls"]
    assert tls == {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "ingress-gw-443-tls"}]}


def test_the_mapping_file_names_services_secrets_and_grants_a_cross_namespace_reference(
    schemas: crdcheck.Schemas,
) -> None:
    arn = "arn:aws:acm:us-west-2:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    mapping = {
        "services": {
            "myservicea.svc.cluster.local": {"name": "service-a", "namespace": "backends", "port": 8080}
        },
        "certificates": {arn: "edge-cert"},
    }
    conversion = _convert(ROOT / "manifests", mapping, namespace="edge")
    route_ = _objects(conversion, "HTTPRoute")["myGatewayRoute"]
    assert route_["spec"]["rules"][0]["backendRefs"] == [
        {"name": "service-a", "port": 8080, "namespace": "backends"}
    ]
    grants = _objects(conversion, "ReferenceGrant")
    assert set(grants) == {"myGatewayRoute", "payments-api", "orders-grpc"}  # every route leaves "edge"
    grant = grants["myGatewayRoute"]
    assert grant["metadata"]["namespace"] == "backends"
    assert grant["spec"] == {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "edge"}],
        "to": [{"group": "", "kind": "Service", "name": "service-a"}],
    }
    listener = _objects(conversion, "Gateway")["ingress-gw"]["spec"]["listeners"][0]
    assert listener["tls"]["certificateRefs"][0]["name"] == "edge-cert"
    assert not any(f.field.endswith("certificate.acm") for f in conversion.findings)
    assert not _fields(conversion, "apps/myVirtualGateway/myGatewayRoute")
    for obj in conversion.objects:
        assert schemas.check(obj.body) == []


# --- priority against Gateway API's precedence --------------------------------


def _routes_tree(tmp_path: Path, *routes: dict[str, Any]) -> Path:
    return write_tree(tmp_path, {"gw.yaml": [gateway(), *routes]})


def _with(doc: dict[str, Any], priority: int, **match: Any) -> dict[str, Any]:
    doc["spec"]["priority"] = priority
    doc["spec"]["http2Route"]["match"].update(match)
    return doc


def test_a_longer_prefix_ranked_below_a_shorter_one_is_reported(tmp_path: Path) -> None:
    tree = _routes_tree(
        tmp_path,
        _with(route("catch-all", prefix="/"), 0),
        _with(route("api", prefix="/api"), 5),
        _with(route("other-method", prefix="/api/v2"), 9, method="PUT"),
    )
    conflicts = precedence.conflicts(_convert(tree).objects)
    assert {(c.winner, c.other, c.verdict) for c in conflicts} == {
        ("apps/gw/catch-all", "apps/gw/api", precedence.Verdict.OTHER_ROUTE),
        ("apps/gw/catch-all", "apps/gw/other-method", precedence.Verdict.OTHER_ROUTE),
        ("apps/gw/api", "apps/gw/other-method", precedence.Verdict.OTHER_ROUTE),
    }
    assert all("longer path" in c.why for c in conflicts)


def test_orders_gateway_api_keeps_and_matches_that_cannot_meet_are_not_reported(tmp_path: Path) -> None:
    tree = _routes_tree(
        tmp_path,
        _with(route("specific", prefix="/api"), 0),
        _with(route("gets", prefix="/admin"), 1, method="GET"),
        _with(route("posts", prefix="/admin/x"), 2, method="POST"),  # never the same request as "gets"
        _with(route("general", prefix="/"), 3),
    )
    assert precedence.conflicts(_convert(tree).objects) == []


def test_a_route_without_priority_is_priority_1000_and_undocumented_orders_are_undetermined(
    tmp_path: Path,
) -> None:
    tree = _routes_tree(
        tmp_path,
        _with(route("root-gets", prefix="/"), 0, method="GET"),
        route("api", prefix="/api"),  # 1000: after root-gets, which Gateway API ranks lower
        route("api-v1", prefix="/api/v1"),  # equal priority: the longer prefix first, as Gateway API
        _with(route("beta", prefix="/api"), 1000, headers=[{"name": "x-beta", "match": {"exact": "1"}}]),
    )
    found = {(c.winner, c.other, c.verdict) for c in precedence.conflicts(_convert(tree).objects)}
    assert found == {
        ("apps/gw/root-gets", "apps/gw/api", precedence.Verdict.OTHER_ROUTE),
        ("apps/gw/root-gets", "apps/gw/api-v1", precedence.Verdict.OTHER_ROUTE),
        ("apps/gw/root-gets", "apps/gw/beta", precedence.Verdict.OTHER_ROUTE),
        ("apps/gw/api", "apps/gw/beta", precedence.Verdict.UNDETERMINED),  # one priority, one length
    }
    (undetermined,) = [
        c for c in precedence.conflicts(_convert(tree).objects) if c.kind.value == "undetermined"
    ]
    assert undetermined.as_dict()["kind"] == "undetermined"
    standard = targets.Fitted(targets.profile("standard"), _convert(tree))
    text = report.text(standard, precedence.conflicts(standard.conversion.objects), [])
    assert "apps/gw/api and apps/gw/beta: undetermined" in text


def test_equally_specific_matches_are_a_tie_left_to_age(tmp_path: Path) -> None:
    tree = _routes_tree(
        tmp_path,
        _with(route("beta", prefix="/"), 0, headers=[{"name": "x-beta", "match": {"exact": "1"}}]),
        _with(route("canary", prefix="/"), 1, headers=[{"name": "x-canary", "match": {"exact": "1"}}]),
        _with(
            route("v2", prefix="/"), 2, headers=[{"name": "x-beta", "match": {"exact": "2"}}]
        ),  # not with beta
    )
    conflicts = precedence.conflicts(_convert(tree).objects)
    assert [(c.winner, c.other, c.verdict) for c in conflicts] == [
        ("apps/gw/beta", "apps/gw/canary", precedence.Verdict.TIE),
        ("apps/gw/canary", "apps/gw/v2", precedence.Verdict.TIE),
    ]


def test_an_exact_hostname_outranks_a_wildcard_whatever_the_priority(tmp_path: Path) -> None:
    tree = _routes_tree(
        tmp_path,
        _with(route("wild"), 0, hostname={"suffix": ".example.com"}),
        _with(route("exact"), 1, hostname={"exact": "a.example.com"}),
        _with(route("elsewhere"), 2, hostname={"exact": "b.example.org"}),
    )
    conflicts = precedence.conflicts(_convert(tree).objects)
    assert [(c.winner, c.other) for c in conflicts] == [("apps/gw/wild", "apps/gw/exact")]
    assert "exact hostname" in conflicts[0].why


# --- the command ------------------------------------------------------------------


def test_convert_writes_files_reports_json_and_strict_fails_on_losses(tmp_path: Path, crds: Path) -> None:
    out = tmp_path / "out"
    done = reconcile(
        "convert", "--to", "gateway-api", "-f", str(CORPUS), "-o", str(out),
        "--gateway-class", "amazon-alb", "--crds", str(crds), "--report", "json", "--strict",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the corpus has losses
    report = json.loads(done.stdout)
    assert report["format_version"] == "1.1"
    assert report["target"]["name"] == "standard"
    assert len(report["objects"]) == 30
    keys = {"resource", "field", "kind", "severity", "what", "instead", "sources"}
    assert keys <= set(report["findings"][0])
    assert {f["kind"] for f in report["findings"]} == {"loss", "assumed"}
    written = {str(p.relative_to(out)) for p in out.rglob("*.yaml")}
    assert "tf-acc-test/tf-acc-http2-vg.yaml" in written
    docs = list(yaml.safe_load_all((out / "tf-acc-test" / "tf-acc-http2-vg.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Gateway"] + ["HTTPRoute"] * 5

    lossless = write_tree(  # an http listener: an http2 one's h2c is a loss
        tmp_path / "clean",
        {
            "gw.yaml": [
                gateway(protocol="http"),
                route(service="svc.apps.svc.cluster.local", route_type="httpRoute"),
            ]
        },
    )
    mapping = write_tree(
        tmp_path / "map",
        {"map.yaml": [{"services": {"svc.apps.svc.cluster.local": {"name": "svc", "port": 80}}}]},
    )
    done = reconcile(
        "convert", "--to", "gateway-api", "-f", str(lossless), "-o", str(tmp_path / "out2"),
        "--gateway-class", "amazon-alb", "--map", str(mapping / "map.yaml"), "--strict",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 loss(es), 0 assumption(s), 0 priority conflict(s)" in done.stdout


def test_a_bad_mapping_file_or_an_object_the_crds_refuse_writes_nothing(tmp_path: Path, crds: Path) -> None:
    out = tmp_path / "out"
    bad_map = write_tree(tmp_path / "m", {"map.yaml": [{"services": {"x.local": {"name": "Not_A_Service"}}}]})
    args = ["convert", "--to", "gateway-api", "-f", str(ROOT / "manifests"), "-o", str(out)]
    done = reconcile(*args, "--gateway-class", "alb", "--map", str(bad_map / "map.yaml"))
    assert done.returncode == 1
    assert "map.yaml: services.x.local.name" in done.stderr
    assert not out.exists()

    # CRDs whose Gateway insists on a class name no conversion here uses
    strict_crds = tmp_path / "crds"
    strict_crds.mkdir()
    crd = yaml.safe_load((crds / "gateways.yaml").read_text())
    for version in crd["spec"]["versions"]:
        version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["gatewayClassName"][
            "pattern"
        ] = "^only$"
    (strict_crds / "gateways.yaml").write_text(yaml.safe_dump(crd))
    done = reconcile(*args, "--gateway-class", "alb", "--crds", str(strict_crds))
    assert done.returncode == 1
    assert "spec.gatewayClassName" in done.stderr
    assert "nothing was written" in done.stderr
    assert not out.exists()


def test_the_crd_check_enforces_schemas_unknown_fields_and_cel_rules(schemas: crdcheck.Schemas) -> None:
    route_ = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "apps"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/a"}}]}],
        },
    }
    assert schemas.check(route_) == []
    unknown = json.loads(json.dumps(route_))
    unknown["spec"]["priority"] = 1
    assert any("priority" in v.message for v in schemas.check(unknown))
    cel = json.loads(json.dumps(route_))
    cel["spec"]["rules"][0]["matches"][0]["path"]["value"] = "a"  # a CEL rule, not the schema, refuses this
    (violation,) = schemas.check(cel)
    assert violation.path == ".spec.rules[0].matches[0].path"
    assert "must be an absolute path" in violation.message
    bad_name = json.loads(json.dumps(route_))
    bad_name["metadata"]["name"] = "Upper"
    assert [v.path for v in schemas.check(bad_name)] == ["metadata.name"]


def test_hostile_names_become_safe_kubernetes_names_and_files(
    tmp_path: Path, schemas: crdcheck.Schemas
) -> None:
    specs = {
        Key.gateway_key(Scope("Mesh..Evil"), "../GW\u202e"): gateway()["spec"],
        Key.route_key(Scope("Mesh..Evil"), "../GW\u202e", "Route/One"): route()["spec"],
        Key.route_key(Scope("Mesh..Evil"), "../GW\u202e", "route-one"): route()["spec"],
    }
    conversion = gatewayapi.convert(specs, gatewayapi.Options("alb"))
    names = {o.name for o in conversion.objects}
    assert len(names) == 3
    for obj in conversion.objects:
        assert schemas.check(obj.body) == []
    (path,) = conversion.files(tmp_path)
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_converts_a_live_mesh_read_like_export(sandbox: Sandbox, tmp_path: Path, crds: Path) -> None:
    tree = write_tree(tmp_path / "m", {"gw.yaml": [gateway(), route("r1", prefix="/a")]})
    assert reconcile("-f", str(tree), endpoint=sandbox.endpoint).returncode == 0
    out = tmp_path / "out"
    done = reconcile(
        "convert", "--to", "gateway-api", "--mesh", "apps", "-f", str(tree), "-o", str(out),
        "--gateway-class", "alb", "--crds", str(crds), endpoint=sandbox.endpoint,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all((out / "apps" / "gw.yaml").read_text()))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [("Gateway", "gw"), ("HTTPRoute", "r1")]


def test_the_package_ships_the_gateway_api_crds_with_their_licence() -> None:
    kinds = crdcheck.Schemas.load(crdcheck.BUNDLED).kinds
    for kind in ("Gateway", "HTTPRoute", "GRPCRoute", "ReferenceGrant"):
        assert ("gateway.networking.k8s.io/v1", kind) in kinds
    assert "Apache License" in (crdcheck.BUNDLED / "LICENSE").read_text()


# --- defects of issue #22: each test fails on the converter before its fix -------------


def _route_with(name: str, route_type: str = "http2Route", **spec: Any) -> dict[str, Any]:
    """A route whose match and action members are updated from ``spec`` (``match``, ``action``)."""
    doc = route(name, route_type=route_type)
    for member, value in spec.items():
        doc["spec"][route_type][member].update(value)
    return doc


def _finding(conversion: gatewayapi.Conversion, resource: str, field: str) -> gatewayapi.Finding:
    (found,) = [f for f in conversion.findings if f.resource == resource and f.field == field]
    return found


def _admitted(conversion: gatewayapi.Conversion, schemas: crdcheck.Schemas) -> None:
    assert schemas.check_all(o.body for o in conversion.objects) == []


def test_one_header_name_twice_is_merged_case_insensitively_or_the_route_matches_nothing(
    tmp_path: Path, schemas: crdcheck.Schemas
) -> None:
    implied = [{"name": "x-team", "match": {"exact": "pay"}}, {"name": "X-Team", "match": {"prefix": "p"}}]
    contradict = [{"name": "x-team", "match": {"exact": "a"}}, {"name": "X-TEAM", "match": {"exact": "b"}}]
    both_kept = [{"name": "x-v", "match": {"prefix": "1"}}, {"name": "x-v", "match": {"suffix": "9"}}]
    presence = [{"name": "x-v"}, {"name": "X-V", "match": {"exact": "2"}}]
    query = [{"name": "q", "match": {"exact": "1"}}, {"name": "q"}]
    query_contradict = [{"name": "q", "match": {"exact": "1"}}, {"name": "q", "match": {"exact": "2"}}]
    tree = _routes_tree(
        tmp_path,
        _route_with("implied", match={"headers": implied}),
        _route_with("contradict", match={"headers": contradict}),
        _route_with("both", match={"headers": both_kept}),
        _route_with("presence", match={"headers": presence}),
        _route_with("query", match={"queryParameters": query}),
        _route_with("query-contradict", match={"queryParameters": query_contradict}),
    )
    conversion = _convert(tree)
    routes = _objects(conversion, "HTTPRoute")
    assert routes["implied"]["spec"]["rules"][0]["matches"][0]["headers"] == [
        {"name": "x-team", "value": "pay"}
    ]
    assert not _fields(conversion, "apps/gw/implied") & {"spec.http2Route.match.headers[1].match.prefix"}
    assert routes["presence"]["spec"]["rules"][0]["matches"][0]["headers"] == [{"name": "X-V", "value": "2"}]
    assert routes["query"]["spec"]["rules"][0]["matches"][0]["queryParams"] == [{"name": "q", "value": "1"}]
    (kept,) = routes["both"]["spec"]["rules"][0]["matches"][0]["headers"]
    assert kept["value"] == "^1.*"
    assert (
        _finding(conversion, "apps/gw/both", "spec.http2Route.match.headers[1]").kind
        is gatewayapi.FindingKind.LOSS
    )
    for nothing in ("contradict", "query-contradict"):  # App Mesh ANDs them: no request matches both
        assert nothing not in routes
        kinds = {f.kind for f in conversion.findings if f.resource == f"apps/gw/{nothing}"}
        assert gatewayapi.FindingKind.NOT_CONVERTED in kinds
    _admitted(conversion, schemas)


def test_the_crd_check_refuses_what_an_api_server_refuses_for_lists_names_and_duplicates(
    schemas: crdcheck.Schemas,
) -> None:
    def route_(name: str = "r", namespace: str = "apps", **match: Any) -> dict[str, Any]:
        return {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"matches": [match] if match else []}]},
        }

    assert schemas.check_all([route_(), route_("r2", headers=[{"name": "a", "value": "1"}])]) == []
    refused = {
        "list map headers": route_(headers=[{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]),
        "list map queryParams": route_(
            queryParams=[{"name": "q", "value": "1"}, {"name": "q", "value": "1"}]
        ),
        "name a..b": route_("a..b"),
        "name a.-b": route_("a.-b"),
        "name -a": route_("-a"),
        "name too long": route_("a" * 254),
        "name upper case": route_("Route"),
        "namespace with a dot": route_(namespace="a.b"),
        "namespace too long": route_(namespace="n" * 64),
    }
    for why, body in refused.items():
        assert schemas.check_all([body]), why
    gateway_ = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "apps", "annotations": {"not a key": "x"}},
        "spec": {"gatewayClassName": "c", "listeners": [{"name": "l", "port": 80, "protocol": "HTTP"}]},
    }
    assert [v.path for v in schemas.check_all([gateway_])] == ["metadata.annotations"]
    (duplicate,) = schemas.check_all([route_(), route_()])
    assert duplicate.path == "metadata.name"
    assert "kind, namespace and name" in duplicate.message
    assert schemas.check_all([route_(), {**route_(), "kind": "GRPCRoute", "spec": {"parentRefs": []}}]) == []
    service = route_()
    service["spec"]["rules"][0]["backendRefs"] = [{"name": "1st", "port": 80}]
    assert [v.path for v in schemas.check_all([service])] == [".spec.rules[0].backendRefs[0].name"]


def test_every_assumption_is_reported_and_an_explicit_map_port_wins(tmp_path: Path) -> None:
    cluster = route("cluster", service="pay.shop.svc.cluster.local")
    cluster["spec"]["http2Route"]["action"]["target"]["port"] = 9090
    mapped = route("mapped", service="mapped.local")
    mapped["spec"]["http2Route"]["action"]["target"]["port"] = 9090
    tree = _routes_tree(tmp_path, cluster, mapped)
    conversion = _convert(tree, {"services": {"mapped.local": {"name": "mapped", "port": 8080}}})
    at = "spec.http2Route.action.target"
    assumed = gatewayapi.FindingKind.ASSUMED
    assert _finding(conversion, "apps/gw/cluster", f"{at}.virtualService.virtualServiceName").kind is assumed
    assert _finding(conversion, "apps/gw/cluster", f"{at}.port").kind is assumed
    routes = _objects(conversion, "HTTPRoute")
    assert routes["mapped"]["spec"]["rules"][0]["backendRefs"] == [{"name": "mapped", "port": 8080}]
    assert not {f for f in _fields(conversion, "apps/gw/mapped") if f.startswith(at)}


def test_routes_no_listener_of_their_protocol_serves_are_reported(
    tmp_path: Path, schemas: crdcheck.Schemas
) -> None:
    gw = gateway(protocol="http")
    gw["spec"]["listeners"].append({"portMapping": {"port": 8080, "protocol": "http2"}})
    grpc = route("grpc", route_type="grpcRoute")
    grpc["spec"]["grpcRoute"]["match"] = {"serviceName": "shop.Cart"}
    tree = write_tree(
        tmp_path,
        {
            "gw.yaml": [
                gw,
                route("plain", route_type="httpRoute"),
                _route_with("h2-on-http", match={"port": 80}),
                grpc,
            ]
        },
    )
    conversion = _convert(tree)
    routes = _objects(conversion, "HTTPRoute")
    assert routes["plain"]["spec"]["parentRefs"] == [{"name": "gw", "sectionName": "http-80"}]
    assert routes["h2-on-http"]["spec"]["parentRefs"] == [{"name": "gw", "sectionName": "http-80"}]
    assert "http2 listeners only" in _finding(conversion, "apps/gw/h2-on-http", "spec.http2Route").what
    assert "attached to no listener" in _finding(conversion, "apps/gw/grpc", "spec.grpcRoute").instead
    assert "h2c" in _finding(conversion, "apps/gw", "spec.listeners[1].portMapping.protocol").what
    _admitted(conversion, schemas)


def test_string_prefixes_whole_path_regexes_and_rewrites_keep_their_meaning_or_are_reported(
    tmp_path: Path, schemas: crdcheck.Schemas
) -> None:
    rewrite = {"rewrite": {"prefix": {"value": "/v2"}}}
    tree = _routes_tree(
        tmp_path,
        _route_with("string-rewrite", action=rewrite),  # prefix "/": '/foo' -> '/v2foo'
        _route_with(
            "element-rewrite", match={"prefix": "/a/"}, action={"rewrite": {"prefix": {"value": "/b/"}}}
        ),
        _route_with("regex", match={"prefix": None, "path": {"regex": "/items/[0-9]+"}}),
        _route_with("path-and-prefix", match={"prefix": "/a", "path": {"exact": "/a/b"}}),
        _route_with(
            "prefix-rewrite-on-path", match={"prefix": None, "path": {"exact": "/x"}}, action=rewrite
        ),
        _route_with("odd-path", match={"prefix": None, "path": {"exact": "/a//b"}}),
        _route_with("header-regex", match={"headers": [{"name": "x", "match": {"regex": "a|b"}}]}),
    )
    conversion = _convert(tree)
    routes = {name: body["spec"]["rules"][0] for name, body in _objects(conversion, "HTTPRoute").items()}
    lost = _finding(conversion, "apps/gw/string-rewrite", "spec.http2Route.action.rewrite.prefix.value")
    assert "'/v2x'" in lost.what
    assert "'/v2/x'" in lost.instead
    assert not any("rewrite" in f for f in _fields(conversion, "apps/gw/element-rewrite"))
    assert routes["regex"]["matches"][0]["path"] == {
        "type": "RegularExpression",
        "value": "^(?:/items/[0-9]+)$",
    }
    assert routes["path-and-prefix"]["matches"][0]["path"] == {"type": "Exact", "value": "/a/b"}
    assert "filters" not in routes["path-and-prefix"] or all(
        "ReplacePrefixMatch" not in json.dumps(f) for f in routes["path-and-prefix"]["filters"]
    )
    assert "spec.http2Route.match.prefix" in _fields(conversion, "apps/gw/path-and-prefix")
    assert "spec.http2Route.action.rewrite.prefix" in _fields(conversion, "apps/gw/prefix-rewrite-on-path")
    assert routes["odd-path"]["matches"][0]["path"] == {"type": "RegularExpression", "value": "^/a//b$"}
    header = routes["header-regex"]["matches"][0]["headers"][0]
    assert header["value"] == "^(?:a|b)$"
    _admitted(conversion, schemas)


def test_every_generated_name_is_valid_and_unique(tmp_path: Path, schemas: crdcheck.Schemas) -> None:
    texts = ["a" * 300, "a" * 300 + "b", "x", "X", "a.-b", "a..b", "-a-", ".", "x-" + "y" * 70]
    for rule in names.Rule:
        given = names.unique(texts, rule)
        assert len(set(given.values())) == len(texts), rule
        assert all(names.valid(n, rule) for n in given.values()), given
    # routes whose names share their first 200 characters, each granted a Service elsewhere
    long = "r" * 240
    services = {"services": {"svc.local": {"name": "svc", "namespace": "backends", "port": 80}}}
    tree = _routes_tree(
        tmp_path,
        route(long + "-1", service="svc.local"),
        route(long + "-2", service="svc.local"),
        route("one", service="a.first.local"),
        route("two", service="a.second.local"),  # two virtual services whose first label is "a"
    )
    conversion = _convert(tree, services)
    grants = [o.name for o in conversion.objects if o.kind == "ReferenceGrant"]
    assert len(grants) == 2
    assert len(set(grants)) == 2
    assert all(names.valid(g, names.Rule.SUBDOMAIN) for g in grants)
    backends = {
        n: r["spec"]["rules"][0]["backendRefs"][0]["name"]
        for n, r in _objects(conversion, "HTTPRoute").items()
    }
    assert backends["one"] != backends["two"]
    _admitted(conversion, schemas)


def test_an_empty_client_policy_or_logging_is_no_loss(tmp_path: Path) -> None:
    gw = gateway(protocol="http")
    gw["spec"]["backendDefaults"] = {"clientPolicy": {}}
    gw["spec"]["logging"] = {}
    conversion = _convert(write_tree(tmp_path, {"gw.yaml": [gw]}))
    assert _fields(conversion, "apps/gw") == set()


def test_a_route_converted_without_its_gateway_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "m", {"routes.yaml": [route("lonely")]})
    out = tmp_path / "out"
    done = reconcile(
        "convert", "--to", "gateway-api", "-f", str(tree), "-o", str(out), "--gateway-class", "alb",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert "apps/gw/lonely: its virtual gateway gw is not in the input" in done.stderr
    assert not out.exists()


def test_adversarial_inputs_convert_to_objects_the_crds_admit_without_name_collisions(
    schemas: crdcheck.Schemas,
) -> None:
    def listeners(*pairs: tuple[int, str]) -> dict[str, Any]:
        return {"listeners": [{"portMapping": {"port": p, "protocol": pr}} for p, pr in pairs]}

    def spec(kind: str = "http2Route", match: Any = None, **action: Any) -> dict[str, Any]:
        body = route(route_type=kind)["spec"]
        body[kind]["match"] = match if match is not None else body[kind]["match"]
        body[kind]["action"].update(action)
        return body

    long = "m" * 255
    specs = {  # valid App Mesh specs (the model checks them) that Gateway API spells differently
        Key.gateway_key(Scope("Apps"), "gw"): listeners((80, "http"), (80, "http2"), (80, "grpc")),
        Key.gateway_key(Scope("apps"), "gw"): listeners((80, "http2")),
        Key.gateway_key(Scope(long), "G" * 255): listeners((8080, "http")),
        Key.route_key(Scope("Apps"), "gw", "A-B"): spec(
            match={"prefix": "/a#b", "headers": [{"name": "x:y", "match": {"exact": "1"}}]}
        ),
        Key.route_key(Scope("Apps"), "gw", "a-b"): spec(
            match={"path": {"exact": "/a%2Fb"}}, rewrite={"path": {"exact": "//x"}}
        ),
        Key.route_key(Scope("Apps"), "gw", "a.b"): spec(match={"hostname": {"exact": "EXAMPLE.com."}}),
        Key.route_key(Scope("Apps"), "gw", "g"): spec("grpcRoute", match={"serviceName": "shop.Cart"}),
        Key.route_key(Scope("Apps"), "gw", "p"): spec(
            match={"prefix": "/x", "port": 80},
            target={"virtualService": {"virtualServiceName": "Svc.Local"}, "port": 65535},
        ),
        Key.route_key(Scope(long), "G" * 255, "R" * 255): spec("httpRoute", match={"prefix": "/" + "é" * 10}),
        Key.route_key(Scope(long), "G" * 255, "r" * 255): spec(
            "httpRoute", match={"path": {"regex": "/a(b"}}
        ),
        Key.route_key(Scope("apps"), "gw", "m"): spec(
            match={"queryParameters": [{"name": "a b", "match": {"exact": "1"}}], "method": "GET"}
        ),
    }
    for namespace in (None, "one"):
        conversion = gatewayapi.convert(specs, gatewayapi.Options("alb", namespace))
        assert {o.source for o in conversion.objects} == set(specs)
        _admitted(conversion, schemas)
    gateways = {o.source.scope.mesh: o.body for o in conversion.objects if o.kind == "Gateway"}
    (merged,) = gateways["Apps"]["spec"]["listeners"]  # http, http2 and grpc on one port: one listener
    assert merged["allowedRoutes"]["kinds"] == [{"kind": "HTTPRoute"}, {"kind": "GRPCRoute"}]
    assert "merged into listener http-80" in _finding(conversion, "Apps/gw", "spec.listeners[1]").instead


def test_the_bundled_crds_check_every_conversion_unless_told_not_to(tmp_path: Path) -> None:
    args = ["convert", "--to", "gateway-api", "-f", str(ROOT / "manifests"), "--gateway-class", "c" * 254]
    out = tmp_path / "out"
    done = reconcile(*args, "-o", str(out))  # no --crds: the package's own CRDs
    assert done.returncode == 1
    assert "spec.gatewayClassName" in done.stderr
    assert "nothing was written" in done.stderr
    assert not out.exists()
    skipped = reconcile(*args, "-o", str(out), "--no-crds-check")
    assert skipped.returncode == 0, skipped.stderr
    assert list(out.rglob("*.yaml"))
    both = reconcile(*args, "-o", str(tmp_path / "o2"), "--no-crds-check", "--crds", str(crdcheck.BUNDLED))
    assert both.returncode == 1  # a usage error
    assert "contradict" in both.stderr
