"""Fixtures: a local App Mesh over real HTTP, and the real `reconcile` command against it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from reconciler.sandbox import Realism, Sandbox

REGION = "us-east-1"
SCRIPT = Path(sys.executable).parent / "reconcile"
ROOT = Path(__file__).parent.parent
CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may ever reach a real AWS account or read the developer's profile."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture(scope="session")
def crds() -> Path:
    """The Gateway API v1.6.1 CRDs the package ships: no test needs anything beside the clone."""
    from reconciler.convert import crdcheck

    return crdcheck.BUNDLED


@pytest.fixture(scope="session")
def schemas(crds: Path) -> Any:
    """The CRDs' schemas and CEL rules, as ``crdcheck`` checks them."""
    from reconciler.convert import crdcheck

    return crdcheck.Schemas.load(crds)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start a sandbox with the given realism; each starts empty and stops after the test."""
    started: list[Sandbox] = []

    def make(realism: Realism | None = None, meshes: tuple[str, ...] = ("apps",)) -> Sandbox:
        box = Sandbox(realism or Realism.real()).start()
        started.append(box)
        box.reset()
        client = appmesh_client(box.endpoint)
        for mesh in meshes:
            client.create_mesh(meshName=mesh)
        box.stats.reset()
        return box

    yield make
    for box in started:
        box.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """The realistic sandbox (real error codes and clientToken semantics), no faults."""
    return make_sandbox()


def appmesh_client(endpoint: str) -> Any:
    """A plain boto3 client, standing for a person or another tool acting out of band."""
    return boto3.client(
        "appmesh", endpoint_url=endpoint, region_name=REGION, config=Config(retries={"total_max_attempts": 1})
    )


def reconcile(
    *args: str, endpoint: str | None = None, cwd: Path = ROOT, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would."""
    extra = ["--endpoint-url", endpoint] if endpoint else []
    return subprocess.run(
        [str(SCRIPT), *args, *extra], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )
