"""The one set of helpers shared by the tests and ``bench/run.py``.

Manifest builders (documents, a Settings document, whole trees), the installed
``reconcile`` command as a user runs it (once, or as a daemon), a plain boto3 client
standing for another tool, and one poll helper. Fixtures live in ``conftest.py``; no
test module imports another.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config
from moto import mock_aws

from reconciler import loader, model

API = "appmesh.reconciler/v1"
REGION = "us-east-1"
SCRIPT = Path(sys.executable).parent / "reconcile"
ROOT = Path(__file__).parent.parent
CORPUS = Path(__file__).parent / "corpus"  # real-world configurations, each citing its source


# --- manifests -------------------------------------------------------------------


def gateway(
    name: str = "gw", mesh: str = "apps", port: int = 80, protocol: str = "http2", **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VirtualGateway",
        "metadata": {"name": name, "mesh": mesh, **meta},
        "spec": {"listeners": [{"portMapping": {"port": port, "protocol": protocol}}]},
    }


def route(
    name: str = "rt",
    *,
    gateway: str = "gw",
    mesh: str = "apps",
    prefix: str = "/",
    service: str = "svc.local",
    route_type: str = "http2Route",
    headers: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": prefix, **({"headers": headers} if headers else {})}
    return {
        "apiVersion": API,
        "kind": "GatewayRoute",
        "metadata": {"name": name, "mesh": mesh, "virtualGateway": gateway, **meta},
        "spec": {
            route_type: {
                "action": {"target": {"virtualService": {"virtualServiceName": service}}},
                "match": match,
            }
        },
    }


def settings_document(name: str = "reconciler", **spec: Any) -> dict[str, Any]:
    """A ``kind: Settings`` document with the given spec fields (the contract's names)."""
    return {"apiVersion": API, "kind": "Settings", "metadata": {"name": name}, "spec": spec}


def write_tree(root: Path, files: dict[str, Any]) -> Path:
    """Write files: bytes and str verbatim, a list of documents as multi-document YAML."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(yaml.safe_dump_all(content, sort_keys=False))
    return root


def _numbered_route(gateway_name: str, n: int) -> dict[str, Any]:
    return route(f"r{n}", gateway=gateway_name, prefix=f"/{n}")


def numbered_tree(
    root: Path,
    gateways: int,
    routes: int,
    *,
    route_of: Callable[[str, int], dict[str, Any]] = _numbered_route,
    **listener: Any,
) -> Path:
    """Gateways ``gw0``… with routes ``r0``… each (``route_of(gateway, n)``), one file per gateway."""
    files = {
        f"gw{g}.yaml": [gateway(f"gw{g}", **listener), *(route_of(f"gw{g}", r) for r in range(routes))]
        for g in range(gateways)
    }
    return write_tree(root, files)


# --- App Mesh, as another tool reaches it --------------------------------------------


def appmesh_client(endpoint: str, pool: int = 10) -> Any:
    """A plain boto3 client, standing for a person or another tool acting out of band."""
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=pool)
    return boto3.client("appmesh", endpoint_url=endpoint, region_name=REGION, config=config)


@contextmanager
def in_process_mesh(gateways: int, routes: int, *, tag_routes: bool = False) -> Iterator[Any]:
    """moto in-process: mesh ``apps``, gateways ``g0``.., routes ``r0``.. on each (tagged ``k``: index)."""
    with mock_aws():
        client = boto3.client("appmesh", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
        client.create_mesh(meshName="apps")
        for g in range(gateways):
            client.create_virtual_gateway(meshName="apps", virtualGatewayName=f"g{g}", spec=gateway()["spec"])
            for r in range(routes):
                tags = [{"key": "k", "value": str(r)}] if tag_routes else []
                client.create_gateway_route(
                    meshName="apps",
                    virtualGatewayName=f"g{g}",
                    gatewayRouteName=f"r{r}",
                    spec=route()["spec"],
                    tags=tags,
                )
        yield client


def create_through_boto3(endpoint: str, manifests: Path, owner: str = "default") -> None:
    """Create every manifest's resource with a plain boto3 client, as another tool would."""
    client = appmesh_client(endpoint)
    for key, want in sorted(loader.load(manifests).state.resources.items()):
        tags = [{"key": k, "value": v} for k, v in {**want.tags, model.OWNER_TAG: owner}.items()]
        common = {
            "meshName": key.scope.mesh,
            "virtualGatewayName": key.gateway,
            "spec": want.spec,
            "tags": tags,
        }
        if key.kind == "VirtualGateway":
            client.create_virtual_gateway(**common)
        else:
            client.create_gateway_route(gatewayRouteName=key.name, **common)


# --- the command line ------------------------------------------------------------------


def command(*args: str) -> list[str]:
    """The installed console script with ``args``, as a user types it."""
    return [str(SCRIPT), *args]


def reconcile(
    *args: str, endpoint: str | None = None, cwd: Path = ROOT, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a user would."""
    extra = ["--endpoint-url", endpoint] if endpoint else []
    return subprocess.run(
        command(*args, *extra), capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )


def eventually(condition: Callable[[], Any], timeout: float = 30, interval: float = 0.05) -> Any:
    """Poll a condition a user would check until it holds (its truthy value), or fail at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition did not hold in time"
        time.sleep(interval)


def free_port() -> int:
    """A free port below Linux's ephemeral range, so no server binding port 0 can be handed it later."""
    while True:
        port = random.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class Daemon:
    """``reconcile --watch`` in its own process, logging JSON lines to a file."""

    def __init__(self, process: subprocess.Popen[str], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @classmethod
    def spawn(
        cls, manifests: Path, endpoint: str, log: Path, *extra: str, env: dict[str, str] | None = None
    ) -> Daemon:
        """Start the daemon; its probes' port is known once it has logged ``daemon.started``."""
        args = ["--watch", "-f", str(manifests), "--endpoint-url", endpoint]
        # a free port bound by the daemon and logged: no window for another to take it
        args += ["--metrics-addr", "127.0.0.1:0", "--debounce", "0.2", "--write-rate", "50", *extra]
        with log.open("w") as sink:
            process = subprocess.Popen(
                command(*args),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, **(env or {})},
            )
        return cls(process, 0, log)

    def wait_started(self) -> Daemon:
        started = eventually(lambda: self.events("daemon.started"))
        self.port = int(started[0]["metrics_addr"].rpartition(":")[2])
        eventually(lambda: self.get("/readyz")[0] in (200, 503))
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]
        return [e for e in lines if e.get("event") == name]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)
