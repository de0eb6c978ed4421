"""The daemon as operators rely on it, run as a subprocess against the sandbox over HTTP:
it stops writing when told, says ready only when it is, recovers by itself, costs 1 + G
reads after an apply, never deletes on a half-written file, and survives any file."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import loader
from reconciler.sandbox import Realism, Sandbox
from reconciler.shutdown import Shutdown, Stopped

from .helpers import (
    Daemon,
    appmesh_client,
    eventually,
    free_port,
    gateway,
    numbered_tree,
    route,
    settings_document,
    write_tree,
)

BAD_INPUTS = Path(__file__).parent / "bad_inputs"
PRUNE = settings_document("r", prune=True)


def _runs(daemon: Daemon, reason: str) -> int:
    return sum(1 for e in daemon.events("reconcile.planned") if e.get("reason") == reason)


def test_sigterm_stops_the_writes_within_a_second(
    make_sandbox: Callable[..., Sandbox], start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    box = make_sandbox(Realism.real(latency=0.3))
    tree = numbered_tree(tmp_path / "m", 2, 101)  # 204 resources
    daemon = start_daemon(tree, box.endpoint, "--resync-interval", "300", "--write-rate", "50")
    eventually(lambda: box.stats.writes() >= 10)
    signalled = time.time()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=10) == 0
    exited = time.time()
    writes = box.stats.as_json()["writes_at"]
    assert len(writes) < 204  # it really stopped part-way
    assert max(writes) <= signalled + 1.0 + 0.3  # nothing sent after the first second (answers take 0.3 s)
    assert exited - signalled < 3
    (stopped,) = daemon.events("daemon.stopped")
    assert stopped["left_undone"] > 0

    restarted = start_daemon(tree, box.endpoint, "--resync-interval", "300", "--write-rate", "200")
    eventually(lambda: restarted.get("/readyz")[0] == 200, timeout=90)
    pages = appmesh_client(box.endpoint).get_paginator("list_gateway_routes")
    found = pages.paginate(meshName="apps", virtualGatewayName="gw1")
    names = [r["gatewayRouteName"] for page in found for r in page["gatewayRoutes"]]
    assert sorted(names) == sorted(f"r{r}" for r in range(101))  # converged, no duplicates
    assert restarted.stop() == 0


def test_not_ready_until_a_success_and_recovers_within_seconds_of_the_endpoint(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    port = free_port()
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway()]})
    daemon = start_daemon(tree, f"http://127.0.0.1:{port}", "--resync-interval", "300")
    status, body = daemon.get("/readyz")
    assert status == 503
    assert json.loads(body)["reason"] == "no reconcile has succeeded yet"
    eventually(lambda: daemon.events("reconcile.failed"))
    assert daemon.get("/readyz")[0] == 503
    box = Sandbox(Realism.real(), port=port).start()
    try:
        box.reset()
        appmesh_client(box.endpoint).create_mesh(meshName="apps")
        healed = time.monotonic()
        eventually(lambda: daemon.get("/readyz")[0] == 200, timeout=30)
        assert time.monotonic() - healed < 30
        assert "reconciler_last_success_timestamp_seconds" in daemon.get("/metrics")[1]
        assert 'reconciler_last_run_result{result="success"} 1.0' in daemon.get("/metrics")[1]
        assert daemon.stop() == 0
    finally:
        box.stop()


def test_not_ready_while_runs_fail_and_ready_again_once_they_succeed(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway()]})
    daemon = start_daemon(
        tree, sandbox.endpoint, "--resync-interval", "300", "--max-attempts", "2", "--status-detail"
    )
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    sandbox.control.realism(unavailable=1.0)
    write_tree(tree, {"m.yaml": [gateway(), route()]})
    eventually(lambda: json.loads(daemon.get("/readyz")[1]).get("reason") == "the last reconcile failed")
    assert "ServiceUnavailable" in json.loads(daemon.get("/readyz")[1])["error"]
    sandbox.control.realism(unavailable=0.0)
    eventually(lambda: daemon.get("/readyz")[0] == 200, timeout=30)
    assert _runs(daemon, "retry") >= 1
    assert daemon.stop() == 0


def test_the_first_resync_after_an_apply_costs_the_list_calls_alone(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = numbered_tree(tmp_path / "m", 2, 101)
    tree_with_prune = write_tree(tree, {"settings.yaml": [PRUNE]})  # tags of prune candidates are read too
    daemon = start_daemon(tree_with_prune, sandbox.endpoint, "--resync-interval", "4", "--write-rate", "200")
    eventually(lambda: daemon.get("/readyz")[0] == 200, timeout=90)
    resyncs = _runs(daemon, "resync")
    sandbox.stats.reset()
    eventually(lambda: _runs(daemon, "resync") > resyncs, timeout=20)
    calls = sandbox.stats.operations()
    assert set(calls) <= {"ListVirtualGateways", "ListGatewayRoutes"}, calls
    assert sum(calls.values()) <= 1 + 2 + 2  # 1 + G (+ 2 of slack the issue allows)
    assert daemon.stop() == 0


def test_a_half_written_file_deletes_nothing(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"settings.yaml": [PRUNE]})
    numbered_tree(tree, 2, 3)  # gw1.yaml keeps the mesh named, so gw0's resources are prune candidates
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    whole = (tree / "gw0.yaml").read_text()
    (tree / "gw0.yaml").write_text("")  # what `>` redirection does first
    eventually(lambda: daemon.events("reconcile.deletes_held"))
    time.sleep(1.5)  # the writer takes 1.5 s to write the file again (the scenario, not a wait for luck)
    (tree / "gw0.yaml").write_text(whole)
    planned = len(daemon.events("reconcile.planned"))
    eventually(lambda: [e for e in daemon.events("reconcile.planned")[planned:] if e["delete"] == 0])
    assert not {op for op in sandbox.stats.operations() if op.startswith("Delete")}
    assert (
        len(
            appmesh_client(sandbox.endpoint).list_gateway_routes(meshName="apps", virtualGatewayName="gw0")[
                "gatewayRoutes"
            ]
        )
        == 3
    )
    assert daemon.stop() == 0


def test_a_removal_confirmed_by_a_later_snapshot_is_deleted(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(
        tmp_path / "m", {"settings.yaml": [PRUNE], "m.yaml": [gateway(), route("a"), route("b")]}
    )
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300", "--confirm-deletes-after", "1")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    write_tree(tree, {"m.yaml": [gateway(), route("a")]})
    client = appmesh_client(sandbox.endpoint)
    eventually(
        lambda: (
            len(client.list_gateway_routes(meshName="apps", virtualGatewayName="gw")["gatewayRoutes"]) == 1
        )
    )
    assert daemon.events("reconcile.deletes_held")
    assert _runs(daemon, "confirm deletes") >= 1
    assert daemon.stop() == 0


def test_healthz_fails_while_one_run_has_no_answer_for_longer_than_stuck_after(
    make_sandbox: Callable[..., Sandbox], start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    box = make_sandbox(Realism.real(latency=4.0))  # every answer takes longer than the limit
    tree = numbered_tree(tmp_path / "m", 1, 9)
    daemon = start_daemon(tree, box.endpoint, "--stuck-after", "1", "--concurrency", "1")
    eventually(lambda: daemon.get("/healthz")[0] == 503, timeout=20)
    assert "one run has made no progress for over 1 s" in daemon.get("/healthz")[1]
    assert daemon.stop() == 0


def test_a_cold_start_slower_than_stuck_after_but_making_progress_stays_healthy(
    make_sandbox: Callable[..., Sandbox], start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    box = make_sandbox(Realism.real(latency=0.3))
    tree = numbered_tree(tmp_path / "m", 1, 20)  # about 24 calls of 0.3 s each, one at a time
    daemon = start_daemon(tree, box.endpoint, "--stuck-after", "2", "--concurrency", "1")
    health = []
    while daemon.get("/readyz")[0] != 200:
        health.append(daemon.get("/healthz")[0])
        assert daemon.process.poll() is None
    seconds = float(
        re.findall(r"reconciler_reconcile_duration_seconds_sum (\S+)", daemon.get("/metrics")[1])[0]
    )
    assert seconds > 2 * 2  # the run lasted well over --stuck-after ...
    assert set(health) == {200}, health  # ... and liveness never failed: every answer was progress
    assert daemon.stop() == 0


def test_readiness_sees_a_hung_call_and_names_the_revision_it_is_stuck_on(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway()]})
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    applied = json.loads(daemon.get("/status")[1])["lastAppliedRevision"]
    sandbox.control.realism(latency=60.0)  # the endpoint takes connections and never answers in time
    write_tree(tree, {"m.yaml": [gateway(), route()]})
    changed = time.monotonic()
    eventually(lambda: daemon.get("/readyz")[0] == 503, timeout=40)
    # the documented bound: connect 5 s + read 10 s + backoff 2 s + a rate token 2 s + debounce 0.2 s
    assert time.monotonic() - changed < 19.2 + 5
    body = json.loads(daemon.get("/readyz")[1])
    assert "no answer from App Mesh" in body["reason"]
    assert body["revision"] == json.loads(daemon.get("/status")[1])["lastAttemptedRevision"] != applied
    assert daemon.get("/healthz")[0] == 200  # under --stuck-after (900 s): alive, not ready
    sandbox.control.realism(latency=0.0)
    assert daemon.stop() == 0


def test_a_long_manifest_load_gives_way_to_the_shutdown_signal(tmp_path: Path) -> None:
    tree = numbered_tree(tmp_path / "m", 50, 1)
    shutdown = Shutdown()
    assert loader.load(tree, shutdown=shutdown).ok
    shutdown.set()
    with pytest.raises(Stopped):
        loader.load(tree, shutdown=shutdown)


def _cases() -> list[Path]:
    return sorted(BAD_INPUTS / json.loads(p.read_text())["case"] for p in BAD_INPUTS.glob("*.expected.json"))


def test_the_daemon_survives_every_bad_input_and_writes_nothing(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway()]})
    daemon = start_daemon(
        tree, sandbox.endpoint, "--resync-interval", "300", "--debounce", "0.05", "--status-detail"
    )
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    sandbox.stats.reset()
    for case in _cases():
        target = tree / "bad" / case.name
        target.parent.mkdir()
        if case.is_dir():
            shutil.copytree(case, target, symlinks=True)
        else:
            shutil.copy(case, target)
        eventually(
            lambda name=case.name: name in daemon.get("/readyz")[1] and daemon.get("/readyz")[0] == 503
        )
        assert daemon.process.poll() is None, case.name
        shutil.rmtree(tree / "bad")
        eventually(lambda: daemon.get("/readyz")[0] == 200, timeout=60)
    assert sandbox.stats.writes() == 0
    assert daemon.stop() == 0
