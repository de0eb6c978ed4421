"""`reconcile validate` and `reconcile schema`, run as the installed console script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .helpers import ROOT, command, gateway, reconcile, route, write_tree


def test_validate_shipped_examples() -> None:
    done = reconcile("validate", "-f", "manifests/")
    assert done.returncode == 0, done.stderr
    assert "5 resource(s) valid" in done.stdout


def test_validate_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    bad = gateway()
    bad["spec"]["listeners"][0]["portMapping"]["protocol"] = "tcp"
    write_tree(tmp_path, {"a.yaml": [bad], "b.yaml": "kind: [", "c.yaml": [route(gateway="elsewhere")]})
    done = reconcile("validate", "-f", str(tmp_path))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert f"error: {tmp_path}/a.yaml:10 (document 1): spec.listeners[0].portMapping.protocol: " in lines[0]
    assert lines[1].startswith(f"error: {tmp_path}/b.yaml:2 (document 1): invalid YAML")
    assert lines[2].startswith(f"warning: {tmp_path}/c.yaml (document 1): metadata.virtualGateway")
    assert lines[3] == "2 error(s); nothing was changed."


def test_validate_json_output(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.yaml": [route(prefix="x")]})
    done = reconcile("validate", "-f", str(tmp_path), "--output", "json")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["format_version"] == 1
    assert document["valid"] is False
    paths = [(p["severity"], p["path"]) for p in document["problems"]]
    assert paths == [("error", "spec.http2Route.match.prefix")]


def test_manifest_directory_from_the_environment(tmp_path: Path) -> None:
    write_tree(tmp_path, {"g.yaml": [gateway()]})
    env = {"RECONCILE_MANIFESTS": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command("validate"), capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert f"1 resource(s) valid in {tmp_path}" in done.stdout


def test_committed_schema_is_current() -> None:
    done = reconcile("schema")
    assert done.returncode == 0
    assert json.loads(done.stdout) == json.loads((ROOT / "schema" / "manifest.schema.json").read_text())
    assert {"VirtualGatewaySpec", "GatewayRouteSpec"} <= set(json.loads(done.stdout)["$defs"])
