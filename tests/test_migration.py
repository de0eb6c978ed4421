"""The migration walkthrough's last step, run as the README writes it, against the sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reconciler.sandbox import Sandbox

from .helpers import ROOT, SCRIPT, appmesh_client, reconcile


def _step_five() -> list[str]:
    """The commands of step 5 of "A migration, step by step", as written."""
    text = (ROOT / "README.md").read_text()
    block = text.split("### A migration, step by step", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    step = block.split("# 5.", 1)[1].split("\n", 1)[1]
    return [line for line in step.splitlines() if line and not line.startswith("#")]


def test_the_prune_step_deletes_the_emptied_mesh(sandbox: Sandbox, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": sandbox.endpoint,
        "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for command in ("git init -q .", "git add manifests", "git commit -q -m manifests"):
        subprocess.run(command, shell=True, cwd=tmp_path, env=env, check=True)
    applied = reconcile("-f", str(tmp_path / "manifests"), endpoint=sandbox.endpoint)
    assert applied.returncode == 0, applied.stderr
    client = appmesh_client(sandbox.endpoint)
    assert client.list_virtual_gateways(meshName="apps")["virtualGateways"]

    outputs = []
    for command in _step_five():
        done = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        outputs.append(done.stdout)
    dry_run = outputs[1]
    assert "- VirtualGateway apps/" in dry_run
    assert "matches the manifests" not in dry_run
    assert client.list_virtual_gateways(meshName="apps")["virtualGateways"] == []


def test_a_plan_that_manages_no_mesh_says_so(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = reconcile(
        "--dry-run", "--prune", "--allow-empty", "-f", str(tmp_path / "empty"), endpoint=sandbox.endpoint
    )
    assert done.returncode == 0, done.stderr
    assert "No changes: this plan manages no mesh" in done.stdout
    assert "this plan manages no mesh: the manifests name none" in done.stdout
    assert "matches the manifests" not in done.stdout
