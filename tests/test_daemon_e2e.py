"""`reconcile --watch` as a subprocess against the sandbox over HTTP.

Swap tests use a long resync interval, so only the watcher can notice the change:
a deaf watcher fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from reconciler.sandbox import Realism, Sandbox

from .helpers import Daemon, appmesh_client, eventually, gateway, route, settings_document, write_tree


def prefix_of(endpoint: str, gateway_name: str = "gw", name: str = "rt") -> str | None:
    client = appmesh_client(endpoint)
    try:
        spec = client.describe_gateway_route(
            meshName="apps", virtualGatewayName=gateway_name, gatewayRouteName=name
        )["gatewayRoute"]["spec"]
    except client.exceptions.ClientError:
        return None
    return str(spec["http2Route"]["match"]["prefix"])


def test_new_manifest_is_applied_and_endpoints_answer(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"gw.yaml": [gateway()]})
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    assert json.loads(daemon.get("/healthz")[1]) == {"ok": True, "watcher": "alive", "watcher_restarts": 0}
    write_tree(tree, {"rt.yaml": [route(prefix="/new")]})
    eventually(lambda: prefix_of(sandbox.endpoint) == "/new")

    status, body = daemon.get("/metrics")
    assert status == 200
    for name in (
        'reconciler_reconciles_total{result="success"}',
        "reconciler_reconcile_duration_seconds_count",
        'reconciler_plan_actions_total{action="create"} 2.0',
        'reconciler_api_calls_total{code="200",operation="CreateGatewayRoute"} 1.0',
        "reconciler_api_retries_total",
        "reconciler_api_throttles_total",
        "reconciler_drift_corrections_total",
        "reconciler_manifest_errors 0.0",
        "reconciler_last_success_timestamp_seconds",
        "reconciler_watcher_restarts_total",
    ):
        assert name in body, name
    assert daemon.get("/nothing")[0] == 404
    assert daemon.stop() == 0
    assert daemon.events("daemon.stopped")
    ids = {e["reconcile_id"] for e in daemon.events("reconcile.planned")}
    assert len(ids) == 2  # start, then the change: every event of a run carries its id
    assert all(
        "clientToken" not in line and "testing" not in line for line in daemon.log.read_text().splitlines()
    )


def test_poll_mode_sees_changes_too(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"gw.yaml": [gateway()]})
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300", "--watch-mode", "poll")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    write_tree(tree, {"rt.yaml": [route(prefix="/polled")]})
    eventually(lambda: prefix_of(sandbox.endpoint) == "/polled")
    assert daemon.stop() == 0


def _worktree(root: Path, n: int) -> Path:
    return write_tree(
        root / ".worktrees" / f"wt{n}", {"manifests/m.yaml": [gateway(), route(prefix=f"/v{n}")]}
    )


def test_git_sync_style_swaps_are_applied_every_time(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    root = tmp_path / "git"
    link = root / "current"
    link.parent.mkdir()
    os.symlink(_worktree(root, 0), link)
    daemon = start_daemon(link / "manifests", sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: prefix_of(sandbox.endpoint) == "/v0")
    for n in (1, 2, 3):
        old = Path(os.path.realpath(link))
        new = _worktree(root, n)
        os.symlink(new, root / "tmp-link")
        os.replace(root / "tmp-link", link)  # git-sync: a new link renamed over --link
        shutil.rmtree(old)  # then the old worktree goes
        eventually(lambda n=n: prefix_of(sandbox.endpoint) == f"/v{n}")
    assert daemon.stop() == 0


def _configmap_data(volume: Path, n: int) -> Path:
    data = volume / f"..2026_11_22_{n:02d}"
    write_tree(data, {"m.yaml": [gateway(), route(prefix=f"/cm{n}")]})
    return data


def test_configmap_style_swaps_are_applied_every_time(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    volume = tmp_path / "config"
    volume.mkdir()
    os.symlink(_configmap_data(volume, 0).name, volume / "..data")
    os.symlink("..data/m.yaml", volume / "m.yaml")
    daemon = start_daemon(volume, sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: prefix_of(sandbox.endpoint) == "/cm0")
    for n in (1, 2, 3):
        old = Path(os.path.realpath(volume / "..data"))
        os.symlink(_configmap_data(volume, n).name, volume / "..data_tmp")
        os.replace(volume / "..data_tmp", volume / "..data")  # the kubelet's atomic writer
        shutil.rmtree(old)
        eventually(lambda n=n: prefix_of(sandbox.endpoint) == f"/cm{n}")
    assert daemon.stop() == 0


def test_invalid_edit_applies_nothing_until_fixed(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway(), route(prefix="/good")]})
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300", "--status-detail")
    eventually(lambda: prefix_of(sandbox.endpoint) == "/good")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    sandbox.stats.reset()

    bad = route(prefix="/bad")
    bad["spec"]["http2Route"]["match"]["method"] = "FETCH"
    (tree / "m.yaml").write_text(yaml.safe_dump_all([gateway(), bad]))
    eventually(lambda: daemon.get("/readyz")[0] == 503)
    body = daemon.get("/readyz")[1]
    assert "the manifests are invalid" in body
    assert "spec.http2Route.match.method" in body
    assert daemon.events("manifests.invalid")[0]["errors"][0].startswith(f"error: {tree.resolve()}/m.yaml")
    assert "reconciler_manifest_errors 1.0" in daemon.get("/metrics")[1]
    assert sandbox.stats.writes() == 0
    assert prefix_of(sandbox.endpoint) == "/good"

    (tree / "m.yaml").write_text(yaml.safe_dump_all([gateway(), route(prefix="/fixed")]))
    eventually(lambda: prefix_of(sandbox.endpoint) == "/fixed")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    assert daemon.stop() == 0


def test_drift_is_put_back_on_resync(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway(), route(prefix="/mine")]})
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "1")
    eventually(lambda: prefix_of(sandbox.endpoint) == "/mine")
    appmesh_client(sandbox.endpoint).update_gateway_route(
        meshName="apps", virtualGatewayName="gw", gatewayRouteName="rt", spec=route(prefix="/console")["spec"]
    )
    eventually(lambda: prefix_of(sandbox.endpoint) == "/mine", timeout=20)
    eventually(lambda: "reconciler_drift_corrections_total 1.0" in daemon.get("/metrics")[1])
    assert daemon.stop() == 0


def test_sigterm_during_a_long_apply_exits_0_promptly(
    make_sandbox: Callable[..., Sandbox], start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    box = make_sandbox(Realism.real(latency=0.05))
    docs = [gateway()] + [route(f"r{i}", prefix=f"/{i}") for i in range(100)]
    tree = write_tree(tmp_path / "m", {"m.yaml": docs})
    daemon = start_daemon(tree, box.endpoint, "--resync-interval", "300", "--write-rate", "20")
    eventually(lambda: box.stats.writes() >= 5)
    assert daemon.stop() == 0
    assert daemon.events("daemon.stopped")  # stopped by itself, not cut off by the grace period
    assert box.stats.writes() < 101  # no new work was started after SIGTERM


def test_a_change_of_owner_in_the_tree_is_refused_by_the_pinned_daemon(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    files = {
        "m.yaml": [gateway(), route()],
        "s.yaml": [settings_document("s", owner="platform", prune=False)],
    }
    tree = write_tree(tmp_path / "m", files)
    pin = {"RECONCILE_OWNER": "platform"}
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300", "--status-detail", env=pin)
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    sandbox.stats.reset()

    # A pull request hands the tree to another team and prunes what it no longer names.
    write_tree(tree, {"m.yaml": [gateway()], "s.yaml": [settings_document("s", owner="teamB", prune=True)]})
    eventually(lambda: daemon.get("/readyz")[0] == 503)
    body = daemon.get("/readyz")[1]
    assert "name owner 'teamB', but this instance is pinned to owner 'platform'" in body
    assert sandbox.stats.writes() == 0
    assert prefix_of(sandbox.endpoint) == "/"  # the route is still there
    assert daemon.stop() == 0


def test_a_flood_of_probes_that_hang_up_leaves_only_json_on_stderr_and_idle_ones_are_closed(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"gw.yaml": [gateway()]})
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    idle = socket.create_connection(("127.0.0.1", daemon.port))  # connects and says nothing
    for i in range(200):
        with socket.create_connection(("127.0.0.1", daemon.port)) as client:
            # a whole request hung up on before the answer, or half a request
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" if i % 2 else b"GET /sta")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
    assert daemon.get("/healthz")[0] == 200
    idle.settimeout(15)
    assert idle.recv(1) == b""  # the server closed it after its idle timeout
    idle.close()
    assert daemon.stop() == 0
    lines = daemon.log.read_text().splitlines()
    assert [line for line in lines if not line.startswith("{")] == []
    assert all(json.loads(line)["event"] for line in lines)


def test_with_json_logs_library_warnings_and_thread_crashes_are_json_events_too() -> None:
    script = (
        "import logging, threading\n"
        "from reconciler import logs\n"
        "logs.configure('info', 'json')\n"
        "logging.getLogger('urllib3.connectionpool').warning('Connection pool is full: %s', 'host')\n"
        "def crash(): raise RuntimeError('bang')\n"
        "thread = threading.Thread(target=crash); thread.start(); thread.join()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["event"], e["level"]) for e in events] == [
        ("library.log", "warning"),
        ("thread.crashed", "error"),
    ]
    assert events[0]["message"] == "Connection pool is full: host"
    assert "RuntimeError: bang" in events[1]["traceback"]
