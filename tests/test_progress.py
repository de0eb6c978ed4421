"""Progress you can see: a one-shot read on a terminal shows it, a long read logs it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import structlog
from botocore.config import Config
from moto import mock_aws

from reconciler import live
from reconciler.appmesh_client import AppMesh
from reconciler.live import LiveReader
from reconciler.resources import Scope
from reconciler.sandbox import Sandbox

from .helpers import ROOT, SCRIPT, reconcile


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a pseudo-terminal")
def test_a_dry_run_on_a_terminal_shows_resources_read_and_calls_per_second(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    assert reconcile("-f", "manifests", endpoint=sandbox.endpoint).returncode == 0  # 5 resources live
    command = f"{SCRIPT} --dry-run -f manifests --endpoint-url {sandbox.endpoint}"
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stdout
    assert "Reading App Mesh" in done.stdout
    assert "5/5" in done.stdout
    assert "calls/s" in done.stdout
    assert "No changes. App Mesh matches the manifests." in done.stdout
    piped = reconcile("--dry-run", "-f", "manifests", endpoint=sandbox.endpoint)
    assert "Reading App Mesh" not in piped.stdout + piped.stderr  # no terminal: no bar


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        c = boto3.client("appmesh", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
        c.create_mesh(meshName="apps")
        spec = {"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]}
        for g in range(3):
            c.create_virtual_gateway(meshName="apps", virtualGatewayName=f"g{g}", spec=spec)
        yield c


def test_a_read_reports_each_resource_and_logs_progress(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "PROGRESS_EVERY", 0.0)
    heard: list[tuple[int, int]] = []
    with structlog.testing.capture_logs() as logged:
        LiveReader(AppMesh(client)).read(
            {Scope("apps")}, lambda _key: False, on_progress=lambda n, total: heard.append((n, total))
        )
    assert sorted(heard) == [(1, 3), (2, 3), (3, 3)]
    events = [e for e in logged if e["event"] == "live.progress"]
    assert sorted(e["read"] for e in events) == [1, 2, 3]
    assert all(e["total"] == 3 for e in events)
