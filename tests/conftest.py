"""Fixtures: a local App Mesh over real HTTP, and the real `reconcile --watch` against it.

Everything that is not a fixture (builders, the CLI runner, the poll helper) is in
``helpers.py``, shared with the benchmark.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from reconciler.convert import crdcheck
from reconciler.sandbox import Realism, Sandbox

from .helpers import REGION, Daemon, appmesh_client


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
    return crdcheck.BUNDLED


@pytest.fixture(scope="session")
def schemas(crds: Path) -> crdcheck.Schemas:
    """The CRDs' schemas and CEL rules, as ``crdcheck`` checks them."""
    return crdcheck.Schemas.load(crds)


@pytest.fixture(autouse=True)
def _keep_log_config() -> Iterator[None]:
    """A command run in-process (click's CliRunner) configures structlog: undo it for the next test."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


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


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start ``reconcile --watch`` (fast debounce and write rate); every one is killed after the test."""
    started: list[Daemon] = []

    def start(manifests: Path, endpoint: str, *extra: str, env: dict[str, str] | None = None) -> Daemon:
        daemon = Daemon.spawn(manifests, endpoint, tmp_path / f"daemon-{len(started)}.log", *extra, env=env)
        started.append(daemon)
        return daemon.wait_started()

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
