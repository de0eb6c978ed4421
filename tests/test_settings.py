"""The tree's kind: Settings document: validated like manifests, read the same by every mode."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from reconciler import loader
from reconciler.sandbox import Sandbox
from reconciler.settings import DEFAULT, Overrides, Settings, resolve

from .helpers import appmesh_client, gateway, reconcile, route, settings_document, write_tree


def test_two_settings_documents_are_an_error_naming_both(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {"a.yaml": [settings_document(owner="a")], "b.yaml": [gateway(), settings_document(owner="b")]},
    )
    problems = [p for p in loader.load(tmp_path).problems if p.severity.value == "error"]
    assert len(problems) == 1
    assert problems[0].file == str(tmp_path / "b.yaml")
    assert str(tmp_path / "a.yaml") in problems[0].message


def test_settings_are_validated_with_did_you_mean_and_bounds(tmp_path: Path) -> None:
    write_tree(tmp_path, {"s.yaml": [settings_document(maxDelete=3, resyncInterval="5 minutes", owner="")]})
    done = reconcile("validate", "-f", str(tmp_path))
    assert done.returncode == 1
    assert "spec.maxDelete: unknown field 'maxDelete' (did you mean 'maxDeletes'?)" in done.stderr
    assert "spec.resyncInterval" in done.stderr
    assert "spec.owner" in done.stderr


def test_an_empty_owner_flag_is_refused(tmp_path: Path) -> None:
    write_tree(tmp_path, {"m.yaml": [gateway()]})
    done = reconcile("--dry-run", "--owner", "", "-f", str(tmp_path), endpoint="http://127.0.0.1:9")
    assert done.returncode == 1  # a usage error, before any call
    assert "an unset variable?" in done.stderr


def test_the_plan_states_each_setting_and_where_it_came_from(sandbox: Sandbox, tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"s.yaml": [settings_document(owner="platform", maxDeletes=3)], "m.yaml": [gateway()]}
    )
    done = reconcile(
        "--dry-run", "-o", "json", "--max-deletes", "5", "-f", str(tmp_path), endpoint=sandbox.endpoint
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["settings"]
    assert found["owner"] == {"value": "platform", "origin": f"settings {tmp_path / 's.yaml'} (document 1)"}
    assert found["maxDeletes"] == {"value": 5, "origin": "flag --max-deletes"}
    assert found["prune"] == {"value": False, "origin": "default"}
    text = reconcile("--dry-run", "-f", str(tmp_path), endpoint=sandbox.endpoint).stdout
    assert f'owner = "platform" (settings {tmp_path / "s.yaml"} (document 1))' in text


def test_the_offline_diff_uses_the_heads_settings_and_shows_their_change(tmp_path: Path) -> None:
    base = write_tree(
        tmp_path / "base", {"m.yaml": [gateway(), route("a"), route("b")], "s.yaml": [settings_document()]}
    )
    head = write_tree(
        tmp_path / "head", {"m.yaml": [gateway(), route("a")], "s.yaml": [settings_document(prune=True)]}
    )
    done = reconcile("diff", str(base), str(head), "-o", "json", "--detailed-exitcode")
    assert done.returncode == 2, done.stderr
    plan = json.loads(done.stdout)
    assert [r["address"] for r in plan["resources"] if r["actions"] == ["delete"]] == ["apps/gw/b"]
    assert plan["settings_changes"] == [{"name": "prune", "before": False, "after": True}]
    without = reconcile("diff", str(base), str(head), "--no-prune", "--detailed-exitcode")
    assert without.returncode == 0, without.stdout  # a flag still overrides for one run
    assert "prune changes in this change: false -> true" in without.stdout


def test_an_instance_never_reads_or_writes_a_mesh_outside_its_set(make_sandbox: Any, tmp_path: Path) -> None:
    box: Sandbox = make_sandbox(meshes=("apps", "other"))
    client = appmesh_client(box.endpoint)
    client.create_virtual_gateway(meshName="other", virtualGatewayName="theirs", spec=gateway()["spec"])
    box.stats.reset()
    write_tree(
        tmp_path,
        {
            "s.yaml": [settings_document(meshes=["apps"], prune=True)],
            "m.yaml": [gateway(), gateway("intruder", mesh="other")],
        },
    )
    done = reconcile("-f", str(tmp_path), endpoint=box.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mesh other is not among the meshes this instance manages; left alone" in done.stdout
    stats = json.loads(json.dumps(box.stats.as_json()))
    touched = {op for op, _status, _n in stats["calls"]}
    assert "CreateVirtualGateway" in touched
    names = [
        g["virtualGatewayName"] for g in client.list_virtual_gateways(meshName="other")["virtualGateways"]
    ]
    assert names == ["theirs"]  # not created, not pruned
    export = reconcile(
        "export", "--mesh", "other", "-o", str(tmp_path / "out"), "-f", str(tmp_path), endpoint=box.endpoint
    )
    assert export.returncode == 1  # a usage error
    assert "not among the meshes this instance manages" in export.stderr


def test_a_tree_naming_another_owner_than_the_pinned_one_blocks_the_run(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    write_tree(tmp_path, {"s.yaml": [settings_document(owner="teamB", prune=True)], "m.yaml": [gateway()]})
    done = reconcile("--dry-run", "--owner", "platform", "-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "name owner 'teamB', but this instance is pinned to owner 'platform'" in done.stdout
    assert f"{tmp_path / 's.yaml'} (document 1): spec.owner" in done.stdout
    applied = reconcile("--owner", "platform", "-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert applied.returncode == 1
    assert {op for op in sandbox.stats.operations() if not op.startswith(("List", "Describe"))} == set()


def test_the_pin_holds_in_the_offline_diff_and_the_same_owner_passes(tmp_path: Path) -> None:
    base = write_tree(
        tmp_path / "base", {"s.yaml": [settings_document(owner="platform")], "m.yaml": [gateway()]}
    )
    head = write_tree(
        tmp_path / "head", {"s.yaml": [settings_document(owner="teamB")], "m.yaml": [gateway()]}
    )
    moved = reconcile("diff", str(base), str(head), "--owner", "platform", "-o", "json")
    assert moved.returncode == 1, moved.stderr
    plan = json.loads(moved.stdout)
    assert plan["blocked"] is True
    assert plan["boundary_changes"] == [
        {"name": "owner", "before": "platform", "after": "teamB", "widens": True}
    ]
    assert plan["settings"]["owner"]["value"] == "platform"
    same = reconcile("diff", str(base), str(base), "--owner", "platform", "-o", "json")
    assert same.returncode == 0, same.stdout
    assert json.loads(same.stdout)["settings"]["owner"]["origin"] == "pinned by --owner / RECONCILE_OWNER"


def test_reconcile_owner_pins_like_the_flag_and_an_empty_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_tree(
        tmp_path / "base", {"s.yaml": [settings_document(owner="platform")], "m.yaml": [gateway()]}
    )
    head = write_tree(
        tmp_path / "head", {"s.yaml": [settings_document(owner="teamB")], "m.yaml": [gateway()]}
    )
    monkeypatch.setenv("RECONCILE_OWNER", "platform")
    pinned = reconcile("diff", str(base), str(head))
    assert pinned.returncode == 1, pinned.stdout
    assert "name owner 'teamB', but this instance is pinned to owner 'platform'" in pinned.stdout
    monkeypatch.setenv("RECONCILE_OWNER", "")
    empty = reconcile("diff", str(base), str(head))
    assert empty.returncode != 0
    assert "RECONCILE_OWNER is set but empty" in empty.stderr


def test_every_setting_has_one_override_of_the_same_name() -> None:
    overridable = {f.name for f in fields(Settings)} - {"origins", "problems"}
    assert {f.name for f in fields(Overrides)} == overridable
    resolved = resolve(None, Overrides(max_deletes=3, debounce=0.5))
    assert (resolved.max_deletes, resolved.debounce) == (3, 0.5)
    assert resolved.origin("max_deletes") == "flag --max-deletes"
    assert resolved.origin("prune") == DEFAULT
