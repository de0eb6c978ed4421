"""The diff engine and planner are pure: desired + live in, plan out."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from reconciler import loader, model
from reconciler.plan import Action, Plan, make_plan
from reconciler.problems import Severity
from reconciler.resources import Desired, DesiredState, Key, Live, Scope, Source
from reconciler.settings import Settings

from .helpers import gateway, route, write_tree

ROOT = Path(__file__).parent.parent
APPS = Scope("apps")
OWNED = {model.OWNER_TAG: "default"}


def desired_of(tmp_path: Path, docs: list[dict[str, Any]]) -> DesiredState:
    result = loader.load(write_tree(tmp_path, {"m.yaml": docs}))
    assert result.ok, result.problems
    return result.state


def live_of(state: DesiredState, tags: dict[str, str] | None = None) -> dict[Key, Live]:
    """Live resources equal to the desired ones, as the API would report them."""
    return {
        key: Live(
            key,
            copy.deepcopy(dict(d.spec)),
            f"arn:{key.address}",
            1,
            {**d.tags, **(OWNED if tags is None else tags)},
        )
        for key, d in state.resources.items()
    }


def actions(plan: Plan) -> dict[str, tuple[str, ...]]:
    return {step.key.address: tuple(a.value for a in step.actions) for step in plan.steps}


def test_empty_live_state_plans_creates_gateways_first(tmp_path: Path) -> None:
    plan = make_plan(desired_of(tmp_path, [route(), gateway()]), {}, Settings())
    assert [s.key.kind for s in plan.steps] == ["VirtualGateway", "GatewayRoute"]
    assert actions(plan) == {"apps/gw": ("create",), "apps/gw/rt": ("create",)}
    assert plan.counts() == {"create": 2, "update": 0, "delete": 0, "no-op": 0}
    create = plan.steps[0]
    assert ("tags.reconciler.appmesh/owner", None, "default") in [
        (c.path, c.before, c.after) for c in create.changes
    ]


def test_equal_state_plans_nothing(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway(), route()])
    plan = make_plan(state, live_of(state), Settings())
    assert not plan.has_changes
    assert plan.findings == []


def test_explicit_nulls_and_server_defaults_in_the_live_answer_are_no_change(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway(), route()])
    live = live_of(state)
    gw, rt = sorted(live)
    # The shape of the seed pages' sample responses: every absent member as null.
    live[gw] = Live(
        gw,
        {
            "backendDefaults": None,
            "logging": None,
            "listeners": [
                {
                    "healthCheck": None,
                    "portMapping": {"port": 80, "protocol": "http2"},
                    "tls": None,
                    "connectionPool": {},
                }
            ],
        },
        "arn:gw",
        1,
        OWNED,
    )
    live[rt] = Live(
        rt,
        {
            "grpcRoute": None,
            "httpRoute": None,
            "priority": None,
            "http2Route": {
                "action": {
                    "target": {"virtualService": {"virtualServiceName": "svc.local"}, "port": None},
                    "rewrite": None,
                },
                "match": {"prefix": "/", "headers": None, "hostname": None},
            },
        },
        "arn:rt",
        1,
        OWNED,
    )
    assert not make_plan(state, live, Settings()).has_changes


def test_reordered_unordered_lists_are_no_change(tmp_path: Path) -> None:
    doc = route()
    match = doc["spec"]["http2Route"]["match"]
    match["headers"] = [
        {"name": "a", "match": {"exact": "1"}},
        {"name": "b", "invert": False, "match": {"exact": "2"}},
    ]
    match["queryParameters"] = [{"name": "x"}, {"name": "y", "match": {"exact": "1"}}]
    state = desired_of(tmp_path, [gateway(), doc])
    live = live_of(state)
    rt = max(live)
    spec = copy.deepcopy(dict(live[rt].spec))
    spec["http2Route"]["match"]["headers"].reverse()
    spec["http2Route"]["match"]["queryParameters"].reverse()
    del spec["http2Route"]["match"]["headers"][0]["invert"]  # the server's default, left out
    live[rt] = Live(rt, spec, "arn:rt", 1, OWNED)
    assert not make_plan(state, live, Settings()).has_changes


def test_one_changed_field_is_one_update_naming_its_path(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway(), route(prefix="/new")])
    live = live_of(state)
    rt = max(live)
    spec = copy.deepcopy(dict(live[rt].spec))
    spec["http2Route"]["match"]["prefix"] = "/old"
    live[rt] = Live(rt, spec, "arn:rt", 3, OWNED)
    plan = make_plan(state, live, Settings())
    assert actions(plan) == {"apps/gw": (), "apps/gw/rt": ("update",)}
    (step,) = [s for s in plan.steps if s.actions]
    assert [(c.path, c.before, c.after) for c in step.changes] == [
        ("spec.http2Route.match.prefix", "/old", "/new")
    ]
    assert step.version == 3


def test_untagged_live_resource_is_adopted_with_a_tag_action(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway(tags={"team": "a"})])
    plan = make_plan(state, live_of(state, tags={}), Settings())
    (step,) = plan.steps
    assert step.actions == (Action.TAG,)
    assert step.reason.startswith("adopt")
    assert [(c.path, c.after) for c in step.changes] == [("tags.reconciler.appmesh/owner", "default")]
    assert plan.counts()["update"] == 1


def test_tags_compare_as_a_map_ignoring_aws_prefix(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway(tags={"a": "1", "b": "2"})])
    live = live_of(state, tags={**OWNED, "aws:cloudformation:stack-name": "x"})
    assert not make_plan(state, live, Settings()).has_changes


def test_resource_of_another_owner_is_left_alone_with_an_error(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway()])
    plan = make_plan(state, live_of(state, tags={model.OWNER_TAG: "team-b"}), Settings())
    assert not plan.has_changes
    assert plan.blocked
    assert "owned by reconciler owner 'team-b'" in plan.findings[0].message


def _stray(name: str, owner: str | None = "default") -> Live:
    key = Key.route_key(APPS, "gw", name)
    spec = route(name)["spec"]
    return Live(key, spec, f"arn:{name}", 1, {model.OWNER_TAG: owner} if owner else {})


def test_prune_deletes_only_owned_resources_absent_from_manifests(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway(), route()])
    live = live_of(state)
    for stray in (_stray("owned"), _stray("unowned", None), _stray("other", "someone-else")):
        live[stray.key] = stray
    assert not make_plan(state, live, Settings()).has_changes  # nothing deleted without --prune
    plan = make_plan(state, live, Settings(prune=True))
    assert [s.key.name for s in plan.steps if Action.DELETE in s.actions] == ["owned"]


def test_prune_guards(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway(mesh="other")])
    live = {s.key: s for s in (_stray(f"r{i}") for i in range(3))}
    gw = Key.gateway_key(APPS, "gw")
    live[gw] = Live(gw, gateway()["spec"], "arn:gw", 1, OWNED)
    empty_mesh = make_plan(state, live, Settings(prune=True))
    assert empty_mesh.blocked
    assert "the manifests name nothing in it" in empty_mesh.findings[0].message
    assert not any(Action.DELETE in s.actions for s in empty_mesh.steps)

    too_many = make_plan(state, live, Settings(prune=True, allow_empty=True, max_deletes=3))
    assert too_many.blocked
    assert "more than maxDeletes 3 (default)" in too_many.findings[0].message

    allowed = make_plan(state, live, Settings(prune=True, allow_empty=True, max_deletes=4))
    assert not allowed.blocked
    assert sum(Action.DELETE in s.actions for s in allowed.steps) == 4


def test_gateway_with_remaining_routes_is_not_deleted(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [gateway("keep")])
    gw = Key.gateway_key(APPS, "gw")
    unowned = _stray("theirs", None)
    live = {**live_of(state), gw: Live(gw, gateway()["spec"], "arn:gw", 1, OWNED), unowned.key: unowned}
    plan = make_plan(state, live, Settings(prune=True))
    assert not any(Action.DELETE in s.actions for s in plan.steps)
    assert "routes that will remain still use it (theirs)" in plan.findings[0].message


def _findings(plan: Plan) -> list[tuple[str, str, str]]:
    return [(p.severity.value, p.path, p.message) for p in plan.findings]


def test_route_whose_gateway_exists_nowhere_is_an_error(tmp_path: Path) -> None:
    plan = make_plan(desired_of(tmp_path, [route()]), {}, Settings())
    assert plan.blocked
    assert _findings(plan) == [
        (
            "error",
            "metadata.virtualGateway",
            "virtual gateway 'gw' exists neither in the manifests nor in mesh apps",
        )
    ]


def test_route_on_a_live_gateway_is_fine(tmp_path: Path) -> None:
    state = desired_of(tmp_path, [route()])
    gw = Key.gateway_key(APPS, "gw")
    plan = make_plan(state, {gw: Live(gw, gateway()["spec"], "arn:gw", 1, {})}, Settings())
    assert not plan.blocked


def test_route_type_without_listener_and_missing_port_on_multi_listener_gateway(tmp_path: Path) -> None:
    gw = gateway()
    gw["spec"]["listeners"].append({"portMapping": {"port": 8080, "protocol": "http2"}})
    plan = make_plan(
        desired_of(
            tmp_path,
            [
                gw,
                route(route_type="grpcRoute")
                | {
                    "spec": {
                        "grpcRoute": {
                            "action": {"target": {"virtualService": {"virtualServiceName": "s"}}},
                            "match": {"serviceName": "x"},
                        }
                    }
                },
            ],
        ),
        {},
        Settings(),
    )
    assert _findings(plan) == [
        ("warning", "spec.grpcRoute", "the gateway has no grpc listener (it serves: http2)"),
        (
            "warning",
            "spec.grpcRoute.match.port",
            "the gateway has several listeners (80, 8080); the match names no port",
        ),
    ]


def test_quotas_are_warnings(tmp_path: Path) -> None:
    docs = [gateway(f"g{i}") for i in range(4)] + [
        route(f"r{i}", gateway="g0", prefix=f"/{i}") for i in range(11)
    ]
    plan = make_plan(desired_of(tmp_path, docs), {}, Settings())
    assert not plan.blocked
    assert [(p.severity, p.message.split(";")[0]) for p in plan.findings] == [
        (Severity.WARNING, "VirtualGateway apps/g0 would have 11 gateway routes"),
        (Severity.WARNING, "mesh apps would have 4 virtual gateways"),
    ]


def test_plan_is_deterministic(tmp_path: Path) -> None:
    docs = [gateway("b"), route("z", gateway="b"), gateway("a"), route("y", gateway="a")]
    first = make_plan(desired_of(tmp_path / "1", docs), {}, Settings())
    second = make_plan(desired_of(tmp_path / "2", list(reversed(docs))), {}, Settings())
    assert [s.key for s in first.steps] == [s.key for s in second.steps]
    assert [s.key.address for s in first.steps] == ["apps/a", "apps/a/y", "apps/b", "apps/b/z"]


def test_desired_state_source_is_kept_for_messages() -> None:
    key = Key.gateway_key(APPS, "gw")
    state = DesiredState({key: Desired(key, gateway()["spec"], {}, Source("f.yaml", 2))}, {APPS})
    (step,) = make_plan(state, {}, Settings()).steps
    assert str(step.source) == "f.yaml (document 2)"


def test_markdown_stays_under_the_comment_limit_and_says_so(tmp_path: Path) -> None:
    from reconciler import render

    docs = [gateway()] + [route(f"r{i}", prefix=f"/{'x' * 200}{i}") for i in range(40)]
    plan = make_plan(desired_of(tmp_path, docs), {}, Settings())
    full = render.markdown(plan)
    short = render.markdown(plan, limit=4000)
    assert len(full) < render.GITHUB_COMMENT_LIMIT
    assert "not shown" not in full
    assert len(short) <= 4000
    assert "Not shown to keep this comment under GitHub's size limit: " in short
    assert "more change(s)" in short
    assert short.rstrip().endswith("**Plan: 41 to create, 0 to update, 0 to delete, 0 unchanged.**")
