"""Configurations nobody here wrote: each validates, applies, re-plans clean and exports faithfully.

``tests/corpus/`` holds real-world App Mesh configurations (each file names its
source). ``tests/warn_inputs/`` holds likely mistakes the service does not refuse:
they validate with a warning (an error only under ``validate --strict``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from reconciler import loader
from reconciler.sandbox import Sandbox

from .helpers import appmesh_client, gateway, reconcile, route, write_tree

CORPUS = Path(__file__).parent / "corpus"
WARN_INPUTS = Path(__file__).parent / "warn_inputs"
MESHES = ("howto-multiple-listeners", "tf-acc-test", "cdk-mesh", "shapes", "howto-k8s-ingress-gateway")


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_real_world_configuration_validates(case: Path) -> None:
    done = reconcile("validate", "-f", str(case))
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr


def _load_12(text: str) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all(io.StringIO(text)))


def test_corpus_applies_replans_clean_and_exports_as_a_faithful_copy(
    make_sandbox: Any, tmp_path: Path
) -> None:
    box: Sandbox = make_sandbox(meshes=MESHES)
    applied = reconcile("-f", str(CORPUS), endpoint=box.endpoint)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = reconcile("--dry-run", "--detailed-exitcode", "-f", str(CORPUS), endpoint=box.endpoint)
    assert again.returncode == 0, again.stdout  # includes the port-only match the service answers with "/"

    exported = tmp_path / "export"
    for mesh in MESHES:
        done = reconcile("export", "--mesh", mesh, "-o", str(exported), endpoint=box.endpoint)
        assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(exported.rglob("*.yaml"))
    assert len(files) == 8
    for path in files:
        text = path.read_text()
        assert list(yaml.safe_load_all(text)) == _load_12(text), path  # YAML 1.1 and 1.2 agree
    check = loader.load(exported)
    assert check.ok, [str(p) for p in check.problems]
    assert len(check.state.resources) == 27
    replan = reconcile("--dry-run", "--detailed-exitcode", "-f", str(exported), endpoint=box.endpoint)
    assert replan.returncode == 0, replan.stdout
    assert "Plan: 0 to create, 0 to update, 0 to delete, 27 unchanged." in replan.stdout

    shapes = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((exported / "shapes" / "shapes-gw.yaml").read_text())
    }
    headers = shapes["headers-only"]["spec"]["httpRoute"]["match"]["headers"]
    assert [h["name"] for h in headers] == ["x-version", "x-canary", "x-beta"]  # the order as returned
    assert headers[2]["invert"] is False  # explicit values kept
    assert shapes["shapes-gw"]["metadata"]["tags"]["cost-centre"] == "1e3"
    grpc = next(yaml.safe_load_all((exported / "shapes" / "shapes-grpc-gw.yaml").read_text()))
    assert grpc["spec"]["backendDefaults"]["clientPolicy"]["tls"]["enforce"] is True
    empty = list(yaml.safe_load_all((exported / "shapes" / "shapes-grpc-gw.yaml").read_text()))[1]
    assert empty["spec"]["grpcRoute"]["match"] == {}


def test_a_match_without_prefix_or_path_is_answered_with_prefix_slash_and_plans_clean(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The realism layer stores what the real service is reported to store; the plan must not churn."""
    doc = route()
    doc["spec"]["http2Route"]["match"] = {"method": "POST"}
    write_tree(tmp_path, {"a.yaml": [gateway(), doc]})
    assert reconcile("-f", str(tmp_path), endpoint=sandbox.endpoint).returncode == 0
    client = appmesh_client(sandbox.endpoint)
    stored = client.describe_gateway_route(meshName="apps", virtualGatewayName="gw", gatewayRouteName="rt")
    assert stored["gatewayRoute"]["spec"]["http2Route"]["match"] == {"method": "POST", "prefix": "/"}
    again = reconcile("--dry-run", "--detailed-exitcode", "-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert again.returncode == 0, again.stdout


def test_tags_removed_and_changed_in_a_manifest_apply_with_one_value_per_key(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    write_tree(tmp_path, {"gw.yaml": [gateway(tags={"team": "a", "env": "prod"})]})
    assert reconcile("-f", str(tmp_path), endpoint=sandbox.endpoint).returncode == 0
    write_tree(tmp_path, {"gw.yaml": [gateway(tags={"team": "b"})]})
    done = reconcile("-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    client = appmesh_client(sandbox.endpoint)
    arn = client.describe_virtual_gateway(meshName="apps", virtualGatewayName="gw")["virtualGateway"][
        "metadata"
    ]["arn"]
    tags = client.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted((t["key"], t["value"]) for t in tags) == [
        ("reconciler.appmesh/owner", "default"),
        ("team", "b"),
    ]
    again = reconcile("--dry-run", "--detailed-exitcode", "-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert again.returncode == 0, again.stdout


@pytest.mark.parametrize("case", sorted(WARN_INPUTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_likely_mistakes_warn_and_fail_only_under_strict(case: Path) -> None:
    done = reconcile("validate", "-f", str(case))
    assert done.returncode == 0, done.stderr
    spec_warnings = [
        line for line in done.stderr.splitlines() if line.startswith("warning: ") and ": spec" in line
    ]
    assert spec_warnings, done.stderr
    assert all(str(case) in line for line in spec_warnings)
    strict = reconcile("validate", "--strict", "-f", str(case))
    assert strict.returncode == 1
    assert "error: " in strict.stderr
