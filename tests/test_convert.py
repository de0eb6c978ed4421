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
from reconciler.convert import crdcheck, gatewayapi, precedence
from reconciler.resources import Key, Scope
from reconciler.sandbox import Sandbox

from .conftest import CORPUS, ROOT, reconcile
from .helpers import gateway, route, write_tree


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
        route("unprioritised", prefix="/api/v1"),  # App Mesh documents no order for it
    )
    assert precedence.conflicts(_convert(tree).objects) == []


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
    assert len(report["objects"]) == 27
    keys = {"resource", "field", "kind", "severity", "what", "instead", "sources"}
    assert keys <= set(report["findings"][0])
    written = {str(p.relative_to(out)) for p in out.rglob("*.yaml")}
    assert "tf-acc-test/tf-acc-http2-vg.yaml" in written
    docs = list(yaml.safe_load_all((out / "tf-acc-test" / "tf-acc-http2-vg.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Gateway"] + ["HTTPRoute"] * 5

    lossless = write_tree(
        tmp_path / "clean", {"gw.yaml": [gateway(), route(service="svc.apps.svc.cluster.local")]}
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
