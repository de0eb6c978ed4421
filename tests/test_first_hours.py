"""A newcomer's first commands: options before a command, -o, --metrics-addr, the sandbox's hint."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from reconciler.sandbox import Sandbox

from .helpers import ROOT, SCRIPT, appmesh_client, gateway, reconcile, write_tree


def test_manifests_before_the_command_are_the_ones_validated(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"gw.yaml": [gateway()]})
    done = reconcile("-f", str(tree), "validate", cwd=tmp_path)  # no ./manifests here
    assert done.returncode == 0, done.stderr
    assert f"1 resource(s) valid in {tree}." in done.stdout
    as_json = reconcile("-f", str(tree), "-o", "json", "validate", cwd=tmp_path)
    assert '"valid": true' in as_json.stdout


def test_an_option_before_a_command_that_does_not_take_it_is_refused(tmp_path: Path) -> None:
    done = reconcile("--dry-run", "validate", "-f", str(ROOT / "manifests"), cwd=tmp_path)
    assert done.returncode == 1  # a usage error
    assert "--dry-run given before 'validate'" in done.stderr
    wrong = reconcile("-o", "json", "export", "--mesh", "apps", "-d", str(tmp_path / "out"), cwd=tmp_path)
    assert wrong.returncode == 1  # a usage error
    assert "--output given before 'export'" in wrong.stderr


def test_export_writes_to_d_and_still_takes_the_old_o(sandbox: Sandbox, tmp_path: Path) -> None:
    appmesh_client(sandbox.endpoint).create_virtual_gateway(
        meshName="apps", virtualGatewayName="gw", spec=gateway()["spec"]
    )
    new = reconcile("export", "--mesh", "apps", "-d", str(tmp_path / "new"), endpoint=sandbox.endpoint)
    assert new.returncode == 0, new.stderr
    assert "deprecated" not in new.stderr
    old = reconcile("export", "--mesh", "apps", "-o", str(tmp_path / "old"), endpoint=sandbox.endpoint)
    assert old.returncode == 0, old.stderr
    assert "-o DIR is deprecated for the output directory; use -d/--output-dir" in old.stderr
    assert " -o" not in reconcile("export", "--help").stdout  # the old spelling is not advertised


def test_a_bad_or_busy_metrics_address_is_one_line(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"gw.yaml": [gateway()]})
    bad = reconcile("--watch", "-f", str(tree), "--metrics-addr", "localhost", endpoint="http://127.0.0.1:9")
    assert bad.returncode == 1  # a usage error
    assert "expected HOST:PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = reconcile(
            "--watch", "-f", str(tree), "--metrics-addr", f"127.0.0.1:{port}", endpoint="http://127.0.0.1:9"
        )
    assert busy.returncode == 1
    assert busy.stderr.strip().splitlines() == [
        f"error: --metrics-addr 127.0.0.1:{port}: Address already in use"
    ]


def test_the_sandbox_hint_runs_as_printed_without_reconcile_on_path(tmp_path: Path) -> None:
    bare = {**os.environ, "PATH": os.pathsep.join(["/usr/bin", "/bin"])}
    server = subprocess.Popen(
        [str(SCRIPT), "sandbox", "--no-demo", "-f", str(ROOT / "manifests")],
        stdout=subprocess.PIPE,
        text=True,
        env=bare,
        cwd=tmp_path,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
        (hint,) = [line.strip() for line in lines if "--dry-run" in line]
        done = subprocess.run(
            hint, shell=True, env=bare, cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert shutil.which("reconcile", path=bare["PATH"]) is None
        assert "mesh 'apps' does not exist" in done.stderr  # it ran, and reached the sandbox
    finally:
        server.terminate()
        server.wait(timeout=10)
