"""convert's equivalence check: both routing models follow their documents, and every request the
converted configuration routes differently from App Mesh is reported with the findings that say why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import loader
from reconciler.convert import appmesh_model, equivalence, gatewayapi, gwapi_model, precedence
from reconciler.convert.requests import Request
from reconciler.resources import Key, Scope

from .helpers import ROOT, gateway, reconcile, route, write_tree

GW = Key.gateway_key(Scope("apps"), "gw")


def _specs(gateway_doc: dict[str, Any], *routes: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    specs = {GW: gateway_doc["spec"]}
    specs.update({Key.route_key(Scope("apps"), "gw", r["metadata"]["name"]): r["spec"] for r in routes})
    return specs


def _route(name: str, priority: int | None = None, rewrite: Any = None, **match: Any) -> dict[str, Any]:
    doc = route(name, service=f"{name}.apps.svc.cluster.local")
    doc["spec"]["http2Route"]["match"].update(match)
    if priority is not None:
        doc["spec"]["priority"] = priority
    if rewrite is not None:
        doc["spec"]["http2Route"]["action"]["rewrite"] = rewrite
    return doc


def _app_mesh(*routes: dict[str, Any], listener: dict[str, Any] | None = None) -> appmesh_model.Gateway:
    gw = gateway()
    if listener is not None:
        gw["spec"]["listeners"] = [listener]
    return appmesh_model.gateways(_specs(gw, *routes))[GW]


def _get(path: str, port: int = 80, **headers: str) -> Request:
    return Request(port, "www.example.com", path, "GET", tuple(headers.items()))


def _chosen(outcomes: tuple[Any, ...]) -> list[tuple[str | None, str | None]]:
    return [(o.route, o.path) for o in outcomes]


# --- App Mesh -------------------------------------------------------------------


def test_app_mesh_prefixes_are_strings_and_the_matched_prefix_becomes_slash() -> None:
    mesh = _app_mesh(_route("chapter", prefix="/chapter"))
    # the user guide's example, and a match inside a path element
    assert _chosen(mesh.route(_get("/chapter/1"))) == [("apps/gw/chapter", "/1")]
    assert _chosen(mesh.route(_get("/chapter1?x=1"))) == [("apps/gw/chapter", "/1?x=1")]
    assert mesh.route(_get("/chapte")) == ()
    value = _app_mesh(_route("v2", prefix="/", rewrite={"prefix": {"value": "/v2"}}))
    assert _chosen(value.route(_get("/foo"))) == [("apps/gw/v2", "/v2foo")]
    kept = _app_mesh(_route("kept", prefix="/a/", rewrite={"prefix": {"defaultPrefix": "DISABLED"}}))
    assert _chosen(kept.route(_get("/a/b"))) == [("apps/gw/kept", "/a/b")]


def test_app_mesh_orders_by_priority_then_longest_prefix_and_ties_what_it_does_not_document() -> None:
    mesh = _app_mesh(
        _route("root", priority=5, prefix="/"),
        _route("deep", prefix="/a/b"),
        _route("a", prefix="/a"),
        _route("also-a", prefix="/a", method="GET"),
    )
    assert [o.route for o in mesh.route(_get("/a/b/c"))] == ["apps/gw/root"]  # any priority beats none
    unprioritised = _app_mesh(
        _route("deep", prefix="/a/b"), _route("a", prefix="/a"), _route("x", prefix="/x")
    )
    assert [o.route for o in unprioritised.route(_get("/a/bc"))] == ["apps/gw/deep"]
    tie = _app_mesh(_route("a", prefix="/a"), _route("also-a", prefix="/a", method="GET"))
    assert {o.route for o in tie.route(_get("/a"))} == {"apps/gw/a", "apps/gw/also-a"}


def test_app_mesh_header_matches_range_invert_and_presence() -> None:
    mesh = _app_mesh(
        _route(
            "h",
            prefix="/",
            headers=[
                {"name": "x-range", "match": {"range": {"start": 2, "end": 7}}},
                {"name": "x-not", "invert": True, "match": {"exact": "yes"}},
                {"name": "X-Present"},
            ],
        )
    )
    assert mesh.route(_get("/", **{"x-range": "2", "x-present": ""}))
    assert not mesh.route(_get("/", **{"x-range": "7", "x-present": ""}))  # the end is excluded
    assert not mesh.route(_get("/", **{"x-range": "two", "x-present": ""}))
    assert not mesh.route(_get("/", **{"x-range": "3", "x-present": "", "x-not": "yes"}))
    assert not mesh.route(_get("/", **{"x-range": "3"}))


def test_app_mesh_routes_serve_listeners_of_their_protocol_and_port() -> None:
    gw = gateway()
    gw["spec"]["listeners"] = [
        {"portMapping": {"port": 80, "protocol": "http"}},
        {"portMapping": {"port": 81, "protocol": "http2"}},
    ]
    pinned = _route("pinned", prefix="/", port=81)
    mesh = appmesh_model.gateways(_specs(gw, pinned))[GW]
    assert mesh.route(_get("/", port=80)) == ()  # an http2Route never serves the http listener
    assert [o.host for o in mesh.route(_get("/", port=81))] == ["pinned.apps.svc.cluster.local"]


# --- Gateway API ------------------------------------------------------------------


def test_replace_prefix_match_follows_the_spec_table() -> None:
    table = [
        ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
        ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
        ("/foo/bar", "/foo/", "/xyz", "/xyz/bar"),
        ("/foo", "/foo", "/xyz", "/xyz"),
        ("/foo/", "/foo", "/xyz", "/xyz/"),
        ("/foo/bar", "/foo", "", "/bar"),
        ("/foo/", "/foo", "", "/"),
        ("/foo", "/foo", "/", "/"),
    ]
    for path, prefix, replacement, expected in table:
        assert gwapi_model.replace_prefix(path, prefix, replacement) == expected, (path, prefix, replacement)


def _gateway_api(*routes: dict[str, Any], semantics: gwapi_model.Semantics = gwapi_model.SPEC) -> Any:
    conversion = gatewayapi.convert(_specs(gateway(), *routes), gatewayapi.Options("alb"))
    api = gwapi_model.GatewayApi(conversion.objects, semantics)
    return lambda request: [o.route for o in api.route(GW, request)]


def test_gateway_api_precedence_exact_then_longest_prefix_by_element_then_method_then_headers() -> None:
    routes = (
        _route("root", priority=0, prefix="/"),
        _route("api", prefix="/api"),
        _route("exact", path={"exact": "/api/v1"}),
        _route("get", prefix="/api", method="GET"),
        _route("header", prefix="/api", method="GET", headers=[{"name": "x-a", "match": {"exact": "1"}}]),
    )
    pick = _gateway_api(*routes)
    assert pick(_get("/api/v1")) == ["apps/gw/exact"]
    assert pick(_get("/api/v2", **{"X-A": "1"})) == ["apps/gw/header"]  # header names ignore case
    assert pick(_get("/api/v2")) == ["apps/gw/get"]
    assert pick(Request(80, "h", "/api", "POST")) == ["apps/gw/api"]
    assert pick(Request(80, "h", "/apiary", "POST")) == ["apps/gw/root"]  # PathPrefix: whole elements
    string = _gateway_api(*routes, semantics=gwapi_model.Semantics(prefix=gwapi_model.PrefixKind.STRING))
    assert string(Request(80, "h", "/apiary", "POST")) == ["apps/gw/api"]
    in_order = _gateway_api(*routes, semantics=gwapi_model.Semantics(order=gwapi_model.Order.LIST))
    assert in_order(_get("/api/v1")) == ["apps/gw/api"]  # the first object written matches


def test_gateway_api_leaves_equally_specific_routes_to_creation_time() -> None:
    pick = _gateway_api(_route("one", prefix="/a"), _route("two", prefix="/a"))
    assert sorted(pick(_get("/a/x"))) == ["apps/gw/one", "apps/gw/two"]
    longer = _gateway_api(_route("one", prefix="/a"), _route("two", prefix="/a/"))
    assert longer(_get("/a")) == ["apps/gw/two"]  # the spec counts characters; "/a/" also matches "/a"


# --- the comparison -------------------------------------------------------------------


def _check(*routes: dict[str, Any]) -> tuple[gatewayapi.Conversion, equivalence.Equivalence]:
    specs = _specs(gateway(), *routes)
    conversion = gatewayapi.convert(specs, gatewayapi.Options("alb"))
    return conversion, equivalence.check(specs, conversion, precedence.conflicts(conversion.objects))


def test_a_priority_zero_catch_all_and_an_unprioritised_api_route_are_reported() -> None:
    _conversion, checked = _check(
        _route("root", priority=0, prefix="/", method="GET"), _route("api", prefix="/api")
    )
    found = [d for d in checked.differences if d.request.path == "/api" and d.request.method == "GET"]
    assert found, [str(d.request) for d in checked.differences]
    (difference,) = found
    assert difference.app_mesh.route == "apps/gw/root"
    assert [o.route for o in difference.gateway_api] == ["apps/gw/api"]
    assert equivalence.Aspect.DESTINATION in difference.aspects
    # App Mesh also sends POST /api to "api": no difference there
    assert not [d for d in checked.differences if d.request.method == "POST" and d.request.path == "/api"]
    # both models match both routes: only the pair's priority conflict explains the order,
    # not the loss on "api"'s string prefix
    assert {(f.resource, f.field) for f in difference.findings} == {("apps/gw/root", "spec.priority")}
    specs = _specs(
        gateway(), _route("root", priority=0, prefix="/", method="GET"), _route("api", prefix="/api")
    )
    without = equivalence.check(specs, gatewayapi.convert(specs, gatewayapi.Options("alb")), conflicts=())
    assert any(d.request.path == "/api" and d.request.method == "GET" for d in without.unexplained)


def test_a_difference_without_a_finding_is_an_unexplained_finding() -> None:
    conversion, checked = _check(_route("chapter", prefix="/chapter"))
    mid_element = [d for d in checked.differences if d.request.path == "/chapterx"]
    assert mid_element
    assert all(d.findings for d in checked.differences)
    assert {f.field for d in mid_element for f in d.findings} == {"spec.http2Route.match.prefix"}
    assert checked.findings() == []
    conversion.findings.clear()  # a converter that reported nothing
    specs = _specs(gateway(), _route("chapter", prefix="/chapter"))
    unexplained = equivalence.check(specs, conversion)
    assert unexplained.unexplained
    (finding,) = unexplained.findings()
    assert (finding.resource, finding.kind) == ("apps/gw/chapter", gatewayapi.FindingKind.UNEXPLAINED)
    assert unexplained.as_dict()["unexplained"] == [finding.as_dict()]


def test_convert_reports_equivalence_in_json_and_text(tmp_path: Path) -> None:
    tree = write_tree(
        tmp_path / "m",
        {
            "gw.yaml": [
                gateway(),
                _route("root", priority=0, prefix="/", method="GET"),
                _route("api", prefix="/api"),
            ]
        },
    )
    args = ["convert", "--to", "gateway-api", "-f", str(tree), "--gateway-class", "alb"]
    done = reconcile(*args, "-o", str(tmp_path / "out"), "--report", "json")
    assert done.returncode == 0, done.stderr
    checked = json.loads(done.stdout)["equivalence"]
    assert checked["requests"] > 0
    assert set(checked) >= {"requests", "differences", "unexplained"}
    difference = next(
        d
        for d in checked["differences"]
        if d["request"]["path"] == "/api" and d["request"]["method"] == "GET"
    )
    assert {"request", "appMesh", "gatewayApi", "findings"} <= set(difference)
    assert difference["appMesh"]["route"] == "apps/gw/root"
    assert difference["gatewayApi"]["route"] == "apps/gw/api"
    done = reconcile(*args, "-o", str(tmp_path / "out2"))
    assert "apps/gw/root" in done.stdout
    assert "GET /api" in done.stdout
    assert "Routing checked on" in done.stdout


@pytest.mark.parametrize("protocol", ["http", "http2", "grpc"])
def test_every_listener_port_is_tried(protocol: str) -> None:
    gw = gateway(protocol=protocol)
    gw["spec"]["listeners"].append({"portMapping": {"port": 8080, "protocol": protocol}})
    tried = equivalence.requests(appmesh_model.gateways(_specs(gw))[GW])
    assert {r.port for r in tried} == {80, 8080}
    assert all(r.grpc == (protocol == "grpc") for r in tried)


@pytest.mark.parametrize(
    "tree", [ROOT / "manifests", *sorted((ROOT / "tests" / "corpus").glob("*.yaml"))], ids=lambda p: p.name
)
def test_the_examples_and_the_real_world_corpus_have_no_unexplained_difference(tree: Path) -> None:
    result = loader.load(tree)
    specs = {k: d.spec for k, d in result.state.resources.items()}
    conversion = gatewayapi.convert(specs, gatewayapi.Options("alb"))
    checked = equivalence.check(specs, conversion, precedence.conflicts(conversion.objects))
    assert checked.requests > 0
    assert [str(d.request) for d in checked.unexplained] == []


def test_strict_fails_on_an_unexplained_difference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from reconciler import cli

    tree = write_tree(tmp_path / "m", {"gw.yaml": [gateway(), _route("chapter", prefix="/chapter")]})
    args = ["convert", "--to", "gateway-api", "-f", str(tree), "--gateway-class", "alb", "--strict"]
    convert = gatewayapi.convert

    def silent(*given: Any) -> gatewayapi.Conversion:
        """A converter that reports nothing: no loss, and every difference unexplained."""
        conversion = convert(*given)
        conversion.findings.clear()
        return conversion

    monkeypatch.setattr(gatewayapi, "convert", silent)
    done = CliRunner().invoke(cli.main, [*args, "-d", str(tmp_path / "out"), "--report", "json"])
    assert done.exit_code == 1
    unexplained = json.loads(done.output)["equivalence"]["unexplained"]
    assert [(f["resource"], f["kind"]) for f in unexplained] == [("apps/gw/chapter", "unexplained")]
    text = CliRunner().invoke(cli.main, [*args, "-d", str(tmp_path / "out2")])
    assert text.exit_code == 1
    assert "UNEXPLAINED" in text.output
    assert "0 loss(es)" in text.output  # the unexplained difference alone fails the run


def test_the_converter_and_the_model_share_app_mesh_header_semantics() -> None:
    # an exact value and a range on one header name: "²" is a digit to str.isdigit, not to int
    headers = [
        {"name": "x-n", "match": {"exact": "²"}},
        {"name": "x-n", "match": {"range": {"start": 0, "end": 9}}},
    ]
    specs = _specs(gateway(), _route("n", prefix="/", headers=headers))
    conversion = gatewayapi.convert(specs, gatewayapi.Options("alb"))
    assert not [o for o in conversion.objects if o.kind == "HTTPRoute"]  # the route matches nothing
    assert [f.kind for f in conversion.findings if f.resource == "apps/gw/n"] == [
        gatewayapi.FindingKind.NOT_CONVERTED
    ]
    assert not appmesh_model.gateways(specs)[GW].route(_get("/", **{"x-n": "²"}))
