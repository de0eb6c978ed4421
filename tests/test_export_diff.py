"""`reconcile export` round-trips; `reconcile diff` plans one tree against another offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.sandbox import Sandbox

from .helpers import ROOT, appmesh_client, create_through_boto3, gateway, reconcile, route, write_tree


def test_export_round_trips_to_a_plan_with_no_changes(sandbox: Sandbox, tmp_path: Path) -> None:
    create_through_boto3(sandbox.endpoint, ROOT / "manifests")
    out = tmp_path / "export"
    done = reconcile("export", "--mesh", "apps", "-o", str(out), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == [
        "apps/ingress-gw.yaml",
        "apps/myVirtualGateway.yaml",
    ]
    docs = list(yaml.safe_load_all((out / "apps" / "ingress-gw.yaml").read_text()))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("VirtualGateway", "ingress-gw"),
        ("GatewayRoute", "orders-grpc"),
        ("GatewayRoute", "payments-api"),
    ]
    assert docs[0]["metadata"]["tags"] == {"env": "production", "team": "payments"}  # no owner tag
    text = (out / "apps" / "ingress-gw.yaml").read_text()
    assert "null" not in text
    again = reconcile("--dry-run", "--detailed-exitcode", "-f", str(out), endpoint=sandbox.endpoint)
    assert again.returncode == 0, again.stdout
    assert "Plan: 0 to create, 0 to update, 0 to delete, 5 unchanged." in again.stdout
    # The export is stable: exporting again writes the same bytes.
    second = tmp_path / "second"
    assert reconcile("export", "--mesh", "apps", "-o", str(second), endpoint=sandbox.endpoint).returncode == 0
    assert (second / "apps" / "ingress-gw.yaml").read_text() == text


def test_export_of_unowned_resources_plans_only_adoption(sandbox: Sandbox, tmp_path: Path) -> None:
    client = appmesh_client(sandbox.endpoint)
    client.create_virtual_gateway(meshName="apps", virtualGatewayName="gw", spec=gateway()["spec"])
    client.create_virtual_gateway(meshName="apps", virtualGatewayName="other", spec=gateway()["spec"])
    client.create_gateway_route(
        meshName="apps", virtualGatewayName="gw", gatewayRouteName="rt", spec=route()["spec"]
    )
    out = tmp_path / "export"
    done = reconcile(
        "export", "--mesh", "apps", "--virtual-gateway", "gw", "-o", str(out), endpoint=sandbox.endpoint
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out.rglob("*.yaml")] == ["gw.yaml"]
    plan = json.loads(reconcile("--dry-run", "-o", "json", "-f", str(out), endpoint=sandbox.endpoint).stdout)
    assert [r["actions"] for r in plan["resources"]] == [["tag"], ["tag"]]


def test_export_of_a_missing_mesh_fails_clearly(sandbox: Sandbox, tmp_path: Path) -> None:
    done = reconcile("export", "--mesh", "nope", "-o", str(tmp_path), endpoint=sandbox.endpoint)
    assert done.returncode == 1
    assert "mesh 'nope' does not exist" in done.stderr


def test_diff_plans_head_against_base_offline(tmp_path: Path) -> None:
    base = write_tree(tmp_path / "base", {"m.yaml": [gateway(), route("a"), route("b", prefix="/b")]})
    head = write_tree(tmp_path / "head", {"m.yaml": [gateway(), route("a", prefix="/changed"), route("c")]})
    done = reconcile("diff", str(base), str(head), "--detailed-exitcode", "-o", "json")
    assert done.returncode == 2, done.stderr
    plan = json.loads(done.stdout)
    assert {r["address"]: r["actions"] for r in plan["resources"]} == {
        "apps/gw": ["no-op"],
        "apps/gw/a": ["update"],
        "apps/gw/c": ["create"],
    }
    pruned = json.loads(reconcile("diff", str(base), str(head), "--prune", "-o", "json").stdout)
    assert pruned["summary"] == {"create": 1, "update": 1, "delete": 1, "no-op": 1}
    same = reconcile("diff", str(base), str(base), "--detailed-exitcode")
    assert same.returncode == 0
    assert "No changes." in same.stdout


def test_diff_refuses_invalid_head(tmp_path: Path) -> None:
    base = write_tree(tmp_path / "base", {"m.yaml": [gateway()]})
    head = write_tree(tmp_path / "head", {"m.yaml": [route(prefix="nope")]})
    done = reconcile("diff", str(base), str(head))
    assert done.returncode == 1
    assert "HEAD" in done.stderr
    assert "prefix must start with '/'" in done.stderr


def _live(name: str, gateway_name: str | None = None, mesh: str = "apps") -> Any:
    from reconciler.resources import Key, Live, Scope

    scope = Scope(mesh)
    if gateway_name is None:
        key = Key.gateway_key(scope, name)
        return Live(key, gateway()["spec"], f"arn:{name}", 1, {})
    key = Key.route_key(scope, gateway_name, name)
    return Live(key, route()["spec"], f"arn:{name}", 1, {})


def test_export_names_are_safe_and_stay_inside_the_output(tmp_path: Path) -> None:
    from reconciler import export, loader

    hostile = [
        "../escape",
        "/etc/passwd-gw",
        "a\nkind: Injected",
        "nul\x00byte",
        "g" * 255,
        ".hidden",
        "Gw",
        "gw",
    ]
    live = {item.key: item for item in (_live(name) for name in hostile)}
    above = _live("gw", mesh="..")  # `--mesh ..` must not write above -o
    live[above.key] = above
    out = tmp_path / "out"
    written = export.write(live, out)
    assert len(written) == len(hostile) + 1
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert all(not p.name.startswith(".") and len(p.name) < 130 for p in written)
    assert len({p.name.lower() for p in written}) == len(written)  # no case-insensitive collision
    check = loader.load(out)
    assert check.ok, check.problems
    assert sorted(k.name for k in check.state.resources) == sorted([*hostile, "gw"])  # names kept exactly
    assert {k.scope.mesh for k in check.state.resources} == {"apps", ".."}


def test_export_never_overwrites_without_force_nor_writes_through_a_link(tmp_path: Path) -> None:
    from reconciler import export, files

    live = {item.key: item for item in [_live("gw")]}
    out = tmp_path / "out"
    (out / "apps").mkdir(parents=True)
    (out / "apps" / "gw.yaml").write_text("# hand-edited\n")
    with pytest.raises(files.WriteRefused, match="exists; pass --force"):
        export.write(live, out)
    assert (out / "apps" / "gw.yaml").read_text() == "# hand-edited\n"
    export.write(live, out, force=True)
    assert "kind: VirtualGateway" in (out / "apps" / "gw.yaml").read_text()
    target = tmp_path / "elsewhere.yaml"
    target.write_text("precious\n")
    (out / "apps" / "gw.yaml").unlink()
    (out / "apps" / "gw.yaml").symlink_to(target)
    with pytest.raises(files.WriteRefused, match="symbolic link"):
        export.write(live, out, force=True)
    assert target.read_text() == "precious\n"


def test_export_cli_refuses_to_overwrite_and_masks_credentials(sandbox: Sandbox, tmp_path: Path) -> None:
    client = appmesh_client(sandbox.endpoint)
    client.create_virtual_gateway(meshName="apps", virtualGatewayName="gw", spec=gateway()["spec"])
    out = tmp_path / "out"
    assert reconcile("export", "--mesh", "apps", "-o", str(out), endpoint=sandbox.endpoint).returncode == 0
    again = reconcile("export", "--mesh", "apps", "-o", str(out), endpoint=sandbox.endpoint)
    assert again.returncode == 1
    assert f"{out / 'apps' / 'gw.yaml'} exists; pass --force" in again.stderr
    secret = reconcile(
        "export", "--mesh", "apps", "-o", str(tmp_path / "x"), endpoint="http://me:hunter2@127.0.0.1:9"
    )
    assert secret.returncode == 1
    assert "hunter2" not in secret.stderr + secret.stdout
    assert "***@127.0.0.1:9" in secret.stderr
