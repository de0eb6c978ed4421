"""`reconcile --dry-run` as a subprocess against moto's server over HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import model
from reconciler.sandbox import Realism, Sandbox, is_write

from .helpers import ROOT, appmesh_client, create_through_boto3, gateway, reconcile, route, write_tree

SNAPSHOTS = Path(__file__).parent / "snapshots"


def writes(box: Sandbox) -> dict[str, int]:
    return {op: n for op, n in box.stats.operations().items() if is_write(op)}


@pytest.mark.parametrize("realism", [Realism(), Realism.real()], ids=["plain-moto", "real-api-behaviour"])
def test_dry_run_lists_creates_then_nothing_once_created(
    make_sandbox: Callable[..., Sandbox], realism: Realism
) -> None:
    box = make_sandbox(realism)
    first = reconcile("--dry-run", "--detailed-exitcode", "-f", "manifests/", endpoint=box.endpoint)
    assert first.returncode == 2, first.stderr
    for resource in (
        "VirtualGateway apps/ingress-gw",
        "GatewayRoute apps/ingress-gw/orders-grpc",
        "GatewayRoute apps/ingress-gw/payments-api",
        "VirtualGateway apps/myVirtualGateway",
        "GatewayRoute apps/myVirtualGateway/myGatewayRoute",
    ):
        assert f"+ {resource} will be created" in first.stdout
    assert "Plan: 5 to create, 0 to update, 0 to delete, 0 unchanged." in first.stdout
    assert writes(box) == {}

    create_through_boto3(box.endpoint, ROOT / "manifests", owner="platform")  # manifests/settings.yaml
    box.stats.reset()
    second = reconcile("--dry-run", "--detailed-exitcode", "-f", "manifests/", endpoint=box.endpoint)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "No changes." in second.stdout
    assert "Plan: 0 to create, 0 to update, 0 to delete, 5 unchanged." in second.stdout
    assert writes(box) == {}
    assert set(box.stats.operations()) <= {
        "ListVirtualGateways",
        "ListGatewayRoutes",
        "DescribeVirtualGateway",
        "DescribeGatewayRoute",
        "ListTagsForResource",
    }


def test_one_edit_is_one_update_in_json(sandbox: Sandbox, tmp_path: Path) -> None:
    write_tree(tmp_path, {"m.yaml": [gateway(), route(prefix="/v1")]})
    create_through_boto3(sandbox.endpoint, tmp_path)
    write_tree(tmp_path, {"m.yaml": [gateway(), route(prefix="/v2")]})
    done = reconcile("--dry-run", "-o", "json", "-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["format_version"] == "1.1"
    assert document["summary"] == {"create": 0, "update": 1, "delete": 0, "no-op": 1}
    assert document["has_changes"] is True
    changed = [r for r in document["resources"] if r["actions"] != ["no-op"]]
    assert len(changed) == 1
    (resource,) = changed
    assert resource["identity"] == {
        "kind": "GatewayRoute",
        "mesh": "apps",
        "name": "rt",
        "virtualGateway": "gw",
    }
    assert resource["actions"] == ["update"]
    assert resource["changes"] == [{"path": "spec.http2Route.match.prefix", "before": "/v1", "after": "/v2"}]
    assert resource["before"]["spec"]["http2Route"]["match"]["prefix"] == "/v1"
    assert resource["after"]["tags"] == {model.OWNER_TAG: "default"}
    assert resource["source"] == {"file": f"{tmp_path}/m.yaml", "document": 2}


def test_markdown_plan_matches_snapshot(sandbox: Sandbox, tmp_path: Path) -> None:
    write_tree(tmp_path, {"m.yaml": [gateway(), route("stays"), route("changes", prefix="/a")]})
    create_through_boto3(sandbox.endpoint, tmp_path)
    appmesh_client(sandbox.endpoint).create_gateway_route(
        meshName="apps",
        virtualGatewayName="gw",
        gatewayRouteName="stray",
        spec=route("stray")["spec"],
        tags=[{"key": model.OWNER_TAG, "value": "default"}],
    )
    write_tree(tmp_path, {"m.yaml": [gateway(), route("stays"), route("changes", prefix="/b"), route("new")]})
    done = reconcile(
        "--dry-run", "--prune", "-o", "markdown", "-f", "m.yaml", endpoint=sandbox.endpoint, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    _compare_snapshot("plan.md", done.stdout)


def _compare_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":  # regenerate, then review the diff before committing
        path.write_text(actual)
    assert actual == path.read_text()


def test_missing_mesh_is_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    write_tree(tmp_path, {"m.yaml": [gateway(mesh="nope")]})
    done = reconcile("--dry-run", "-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert "mesh 'nope' does not exist or is not shared with this account" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"m.yaml": [gateway()]})
    done = reconcile("--dry-run", "--max-attempts", "2", "-f", str(tmp_path), endpoint="http://127.0.0.1:9")
    assert done.returncode == 1
    assert "the endpoint could not be reached" in done.stderr


def test_invalid_manifests_make_no_call_at_all(sandbox: Sandbox, tmp_path: Path) -> None:
    write_tree(tmp_path, {"m.yaml": [route(prefix="no-slash")]})
    done = reconcile("--dry-run", "-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert "spec.http2Route.match.prefix: prefix must start with '/'" in done.stderr
    assert sandbox.stats.operations() == {}
