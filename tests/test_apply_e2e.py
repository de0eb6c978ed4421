"""`reconcile` applying against the sandbox over HTTP, with the real API's behaviour and faults."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import loader, model
from reconciler.appmesh_client import AppMesh
from reconciler.diff import canonical
from reconciler.engine import Reconciler
from reconciler.options import Connection
from reconciler.outcomes import Status
from reconciler.resources import Scope
from reconciler.sandbox import Realism, Sandbox
from reconciler.settings import Settings
from reconciler.shutdown import Shutdown

from .helpers import (
    ROOT,
    appmesh_client,
    command,
    eventually,
    gateway,
    numbered_tree,
    reconcile,
    route,
    write_tree,
)

FAST_RETRIES = ("--max-attempts", "20", "--write-rate", "200", "--read-rate", "400")


def live_state(endpoint: str, mesh: str = "apps") -> dict[tuple[str, str], dict[str, Any]]:
    """Every gateway and route in the mesh, with spec and tags, read with plain boto3."""
    client = appmesh_client(endpoint)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for g in client.list_virtual_gateways(meshName=mesh, limit=100)["virtualGateways"]:
        name = g["virtualGatewayName"]
        data = client.describe_virtual_gateway(meshName=mesh, virtualGatewayName=name)["virtualGateway"]
        out[(name, "")] = _with_tags(client, data)
        for r in _all_routes(client, mesh, name):
            data = client.describe_gateway_route(
                meshName=mesh, virtualGatewayName=name, gatewayRouteName=r["gatewayRouteName"]
            )["gatewayRoute"]
            out[(name, r["gatewayRouteName"])] = _with_tags(client, data)
    return out


def _all_routes(client: Any, mesh: str, gateway_name: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_gateway_routes").paginate(
        meshName=mesh, virtualGatewayName=gateway_name
    )
    return [r for page in pages for r in page["gatewayRoutes"]]


def _with_tags(client: Any, data: dict[str, Any]) -> dict[str, Any]:
    tags = client.list_tags_for_resource(resourceArn=data["metadata"]["arn"])["tags"]
    return {"spec": canonical(data["spec"]), "tags": {t["key"]: t["value"] for t in tags}}


def expected_state(manifests: Path, owner: str = "default") -> dict[tuple[str, str], dict[str, Any]]:
    result = loader.load(manifests)
    return {
        (k.gateway, "" if k.kind == "VirtualGateway" else k.name): {
            "spec": canonical(d.spec),
            "tags": {**d.tags, model.OWNER_TAG: owner},
        }
        for k, d in result.state.resources.items()
    }


def calm(box: Sandbox) -> None:
    """Stop injecting faults, so the test's own reads see the state as it is."""
    box.control.realism(throttle=0.0, unavailable=0.0, lost=0.0)


def test_apply_converges_and_the_next_plan_is_clean(sandbox: Sandbox) -> None:
    done = reconcile("-f", "manifests/", endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Apply complete: 5 created, 0 updated, 0 deleted; 0 failed, 0 skipped." in done.stdout
    assert live_state(sandbox.endpoint) == expected_state(
        ROOT / "manifests", owner="platform"
    )  # the tree's settings
    again = reconcile("--dry-run", "--detailed-exitcode", "-f", "manifests/", endpoint=sandbox.endpoint)
    assert again.returncode == 0, again.stdout


def test_fault_mix_converges_exactly_once(make_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    box = make_sandbox(Realism.real(throttle=0.30, unavailable=0.10, lost=0.05, seed=11))
    tree = numbered_tree(tmp_path, gateways=4, routes=49)  # 200 resources
    done = reconcile("-f", str(tree), *FAST_RETRIES, endpoint=box.endpoint)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Apply complete: 200 created" in done.stdout
    calls = box.stats.calls
    assert (
        calls[("CreateGatewayRoute", 429)] + calls[("CreateGatewayRoute", 503)] > 0
    )  # faults really happened
    # A lost answer is retried with the same client token and answered with the first answer: no create
    # ever meets a conflict, so none was applied twice.
    assert calls[("CreateGatewayRoute", 409)] == calls[("CreateVirtualGateway", 409)] == 0
    calm(box)
    assert live_state(box.endpoint) == expected_state(tree)
    again = reconcile("--dry-run", "--detailed-exitcode", "-f", str(tree), endpoint=box.endpoint)
    assert again.returncode == 0, again.stdout[-2000:]


def test_sigkill_mid_apply_then_rerun_converges(make_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    box = make_sandbox(Realism.real(latency=0.01))
    tree = numbered_tree(tmp_path, gateways=2, routes=60)
    args = command("-f", str(tree), "--write-rate", "100", "--endpoint-url", box.endpoint)
    for writes in (5, 40, 90):
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        eventually(lambda n=writes, p=process: box.stats.writes() >= n or p.poll() is not None, 60, 0.005)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL  # killed mid-apply, not finished before
    done = reconcile("-f", str(tree), endpoint=box.endpoint)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert live_state(box.endpoint) == expected_state(tree)
    again = reconcile("--dry-run", "--detailed-exitcode", "-f", str(tree), endpoint=box.endpoint)
    assert again.returncode == 0


def test_quota_is_reported_once_and_not_retried(make_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    box = make_sandbox(Realism.real(gateways_per_mesh=1))
    write_tree(
        tmp_path, {"m.yaml": [gateway("a"), route("ra", gateway="a"), gateway("b"), route("rb", gateway="b")]}
    )
    done = reconcile("-f", str(tmp_path), endpoint=box.endpoint)
    assert done.returncode == 1
    assert done.stdout.count("service quota reached: Virtual gateways per mesh") == 1
    assert box.stats.calls[("CreateVirtualGateway", 400)] == 1
    assert "1 failed, 1 skipped" in done.stdout
    # The two gateways are created concurrently: whichever comes second meets the quota.
    live = set(live_state(box.endpoint))
    (kept,) = {g for g, _ in live}
    lost = "b" if kept == "a" else "a"
    assert live == {(kept, ""), (kept, f"r{kept}")}
    assert (
        f"skipped: GatewayRoute apps/{lost}/r{lost}: skipped: VirtualGateway apps/{lost} did not succeed"
        in (done.stdout)
    )


def _seed_owned(sandbox: Sandbox, tmp_path: Path, routes: int = 3) -> Path:
    tree = write_tree(tmp_path / "seed", {"m.yaml": [gateway(), *[route(f"r{i}") for i in range(routes)]]})
    assert reconcile("-f", str(tree), endpoint=sandbox.endpoint).returncode == 0
    sandbox.stats.reset()
    return tree


def test_empty_manifest_set_deletes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    _seed_owned(sandbox, tmp_path)
    (tmp_path / "empty").mkdir()
    done = reconcile("--prune", "--mesh", "apps", "-f", str(tmp_path / "empty"), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert "warning: " in done.stdout
    assert "no manifests found" in done.stdout
    assert "refusing to prune mesh apps: the manifests name nothing in it" in done.stdout
    assert sandbox.stats.writes() == 0
    other = write_tree(tmp_path / "other", {"m.yaml": [gateway(mesh="elsewhere")]})
    appmesh_client(sandbox.endpoint).create_mesh(meshName="elsewhere")
    sandbox.stats.reset()
    done = reconcile("--prune", "--mesh", "apps", "-f", str(other), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert "refusing to prune mesh apps: the manifests name nothing in it" in done.stdout
    assert sandbox.stats.writes() == 0


def test_all_invalid_manifests_delete_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    _seed_owned(sandbox, tmp_path)
    bad = write_tree(tmp_path / "bad", {"a.yaml": "kind: [", "b.yaml": [route(prefix="x")]})
    done = reconcile("--prune", "--allow-empty", "--mesh", "apps", "-f", str(bad), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert sandbox.stats.operations() == {}


def test_more_deletes_than_allowed_deletes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    _seed_owned(sandbox, tmp_path, routes=4)
    keep = write_tree(tmp_path / "keep", {"m.yaml": [gateway()]})
    done = reconcile("--prune", "--max-deletes", "3", "-f", str(keep), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert (
        "refusing to delete 4 resources in one run, more than maxDeletes 3 (flag --max-deletes)"
        in done.stdout
    )
    assert sandbox.stats.writes() == 0
    done = reconcile("--prune", "--max-deletes", "4", "-f", str(keep), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout
    assert set(live_state(sandbox.endpoint)) == {("gw", "")}


def test_prune_never_deletes_what_we_do_not_own_and_deletes_routes_first(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    _seed_owned(sandbox, tmp_path, routes=2)
    client = appmesh_client(sandbox.endpoint)
    client.create_virtual_gateway(meshName="apps", virtualGatewayName="theirs", spec=gateway()["spec"])
    client.create_gateway_route(
        meshName="apps",
        virtualGatewayName="gw",
        gatewayRouteName="their-route",
        spec=route()["spec"],
        tags=[{"key": model.OWNER_TAG, "value": "someone-else"}],
    )
    other = write_tree(tmp_path / "other", {"m.yaml": [gateway("new")]})
    done = reconcile("--prune", "-f", str(other), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    # gw keeps their-route, so gw stays too (with a warning) and only our two routes go.
    assert (
        "VirtualGateway apps/gw is not deleted: routes that will remain still use it (their-route)"
        in done.stdout
    )
    assert set(live_state(sandbox.endpoint)) == {
        ("gw", ""),
        ("gw", "their-route"),
        ("theirs", ""),
        ("new", ""),
    }

    client.delete_gateway_route(meshName="apps", virtualGatewayName="gw", gatewayRouteName="their-route")
    _seed_owned(sandbox, tmp_path, routes=2)
    done = reconcile("--prune", "-f", str(other), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 deleted" in done.stdout  # the realistic sandbox refuses a gateway delete while routes remain
    assert set(live_state(sandbox.endpoint)) == {("theirs", ""), ("new", "")}


def test_resource_created_out_of_band_is_adopted(sandbox: Sandbox, tmp_path: Path) -> None:
    client = appmesh_client(sandbox.endpoint)
    client.create_virtual_gateway(meshName="apps", virtualGatewayName="gw", spec=gateway(port=8080)["spec"])
    tree = write_tree(tmp_path, {"m.yaml": [gateway(), route()]})
    plan = reconcile("--dry-run", "-f", str(tree), endpoint=sandbox.endpoint)
    assert "~ VirtualGateway apps/gw will be updated in place and will have its tags updated" in plan.stdout
    assert "adopt: exists but is not yet owned by this reconciler" in plan.stdout
    done = reconcile("-f", str(tree), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout
    assert live_state(sandbox.endpoint) == expected_state(tree)


@pytest.mark.parametrize("realism", [Realism(), Realism.real()], ids=["plain-moto", "real-api-behaviour"])
def test_conflict_between_plan_and_apply_converges(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, realism: Realism
) -> None:
    box = make_sandbox(realism)
    tree = write_tree(tmp_path, {"m.yaml": [gateway(), route()]})
    desired = loader.load(tree).state
    reconciler = Reconciler(AppMesh.connect(Connection(endpoint_url=box.endpoint)), Shutdown())
    plan = reconciler.plan(desired, Settings())
    client = appmesh_client(box.endpoint)  # someone creates the route between our plan and our apply
    client.create_virtual_gateway(meshName="apps", virtualGatewayName="gw", spec=gateway()["spec"])
    client.create_gateway_route(
        meshName="apps", virtualGatewayName="gw", gatewayRouteName="rt", spec=route(prefix="/other")["spec"]
    )
    report = reconciler.apply(plan)
    assert report.ok, report.outcomes
    messages = {o.key.address: o.message for o in report.outcomes}
    assert messages == {
        "apps/gw": "already existed; it matched and adopted",
        "apps/gw/rt": "already existed; updated to match and adopted",
    }
    assert all(o.status is Status.DONE for o in report.outcomes)
    assert live_state(box.endpoint) == expected_state(tree)
    assert not reconciler.plan(desired, Settings()).has_changes


@pytest.mark.parametrize("realism", [Realism(), Realism.real()], ids=["plain-moto", "real-api-behaviour"])
def test_a_conflict_with_another_owners_resource_never_takes_it_over(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, realism: Realism
) -> None:
    box = make_sandbox(realism)
    tree = write_tree(tmp_path, {"m.yaml": [gateway(), route(tags={"team": "ours"})]})
    desired = loader.load(tree).state
    reconciler = Reconciler(AppMesh.connect(Connection(endpoint_url=box.endpoint)), Shutdown())
    plan = reconciler.plan(desired, Settings(owner="platform"))
    assert [s.actions for s in plan.steps] == [("create",), ("create",)]
    client = appmesh_client(box.endpoint)  # another team's reconciler creates both after our List
    theirs = [{"key": model.OWNER_TAG, "value": "teamB"}, {"key": "team", "value": "theirs"}]
    client.create_virtual_gateway(
        meshName="apps", virtualGatewayName="gw", spec=gateway(port=8080)["spec"], tags=theirs
    )
    client.create_gateway_route(
        meshName="apps",
        virtualGatewayName="gw",
        gatewayRouteName="rt",
        spec=route(prefix="/theirs")["spec"],
        tags=theirs,
    )
    before = live_state(box.endpoint)
    report = reconciler.apply(plan)
    assert not report.ok
    (refused,) = [o for o in report.outcomes if o.status is Status.FAILED]
    assert refused.key.address == "apps/gw"
    assert "owned by reconciler owner 'teamB', not 'platform'" in refused.message
    assert [o.status for o in report.outcomes if o.key.address == "apps/gw/rt"] == [Status.SKIPPED]
    assert live_state(box.endpoint) == before  # neither tags nor spec moved


def test_a_route_another_owner_created_after_the_list_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    reconciler = Reconciler(AppMesh.connect(Connection(endpoint_url=sandbox.endpoint)), Shutdown())
    ours = loader.load(write_tree(tmp_path / "gw", {"m.yaml": [gateway()]})).state
    assert reconciler.apply(reconciler.plan(ours, Settings(owner="platform"))).ok
    desired = loader.load(write_tree(tmp_path / "all", {"m.yaml": [gateway(), route()]})).state
    plan = reconciler.plan(desired, Settings(owner="platform"))
    client = appmesh_client(sandbox.endpoint)  # another team's route appears after our List
    client.create_gateway_route(
        meshName="apps",
        virtualGatewayName="gw",
        gatewayRouteName="rt",
        spec=route(prefix="/theirs")["spec"],
        tags=[{"key": model.OWNER_TAG, "value": "teamB"}],
    )
    before = live_state(sandbox.endpoint)
    (outcome,) = reconciler.apply(plan).outcomes
    assert outcome.status is Status.FAILED
    assert "already existed, owned by reconciler owner 'teamB'" in outcome.message
    assert live_state(sandbox.endpoint) == before


def test_route_deleted_out_of_band_is_put_back(sandbox: Sandbox, tmp_path: Path) -> None:
    """The realistic sandbox replays a known client token; the reconciler must still recreate."""
    tree = write_tree(tmp_path, {"m.yaml": [gateway(), route()]})
    assert reconcile("-f", str(tree), endpoint=sandbox.endpoint).returncode == 0
    appmesh_client(sandbox.endpoint).delete_gateway_route(
        meshName="apps", virtualGatewayName="gw", gatewayRouteName="rt"
    )
    done = reconcile("-f", str(tree), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Apply complete: 1 created" in done.stdout
    assert live_state(sandbox.endpoint) == expected_state(tree)


ACCOUNT = "123456789012"  # the sandbox's (moto's) account: the account in use


def test_mesh_owner_naming_the_account_in_use_is_the_same_mesh(sandbox: Sandbox, tmp_path: Path) -> None:
    """Two spellings of one mesh: prune must not delete what the other spelling names."""
    tree = write_tree(
        tmp_path / "m",
        {"m.yaml": [gateway("a", meshOwner=ACCOUNT), route(gateway="a", meshOwner=ACCOUNT), gateway("b")]},
    )
    desired = loader.load(tree).state

    def fresh() -> Reconciler:  # a new process: nothing cached
        return Reconciler(AppMesh.connect(Connection(endpoint_url=sandbox.endpoint)), Shutdown())

    settings = Settings(prune=True)
    assert fresh().apply(fresh().plan(desired, settings)).ok
    again = fresh().plan(desired, settings)
    assert not again.has_changes, [(str(s.key), s.actions) for s in again.steps if s.actions]
    assert {s.key.address for s in again.steps} == {"apps/a", "apps/a/rt", "apps/b"}
    within = fresh().plan(desired, Settings(prune=True, meshes=frozenset({Scope("apps", ACCOUNT)})))
    assert not within.has_changes
    assert not within.findings  # managed under either spelling: nothing left alone


def test_one_resource_named_under_both_spellings_is_an_error(sandbox: Sandbox, tmp_path: Path) -> None:
    tree = write_tree(tmp_path, {"a.yaml": [gateway()], "b.yaml": [gateway(meshOwner=ACCOUNT)]})
    desired = loader.load(tree).state
    reconciler = Reconciler(AppMesh.connect(Connection(endpoint_url=sandbox.endpoint)), Shutdown())
    plan = reconciler.plan(desired, Settings())
    assert plan.blocked
    (problem,) = [p for p in plan.findings if p.severity.value == "error"]
    assert problem.path == "metadata.meshOwner"
    assert "VirtualGateway apps/gw is defined twice" in problem.message
