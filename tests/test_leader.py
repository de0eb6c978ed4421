"""Two replicas with ``--leader-elect``: exactly one writes. The Lease API is the stand-in in
``leaseapi.py`` (no kube-apiserver can run here); App Mesh is the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.daemon import leader
from reconciler.daemon.options import LeaseConfig
from reconciler.sandbox import Realism, Sandbox
from reconciler.shutdown import Shutdown

from .helpers import Daemon, appmesh_client, eventually, gateway, numbered_tree, route, write_tree
from .leaseapi import LeaseServer

NAMESPACE, LEASE = "appmesh-reconciler", "appmesh-reconciler"
FAST = ["--lease-duration", "3", "--lease-renew-deadline", "2", "--lease-retry-period", "0.3"]


@pytest.fixture
def leases(tmp_path: Path) -> Iterator[LeaseServer]:
    server = LeaseServer().start()
    yield server
    server.stop()


@pytest.fixture
def replica(
    start_daemon: Callable[..., Daemon], leases: LeaseServer, tmp_path: Path
) -> Callable[..., Daemon]:
    kubeconfig = leases.kubeconfig(tmp_path / "kubeconfig.json")

    def start(name: str, tree: Path, endpoint: str, *extra: str) -> Daemon:
        env = {"KUBECONFIG": str(kubeconfig), "POD_NAME": name, "POD_NAMESPACE": NAMESPACE}
        return start_daemon(tree, endpoint, "--leader-elect", "--resync-interval", "300", *extra, env=env)

    return start


def _status(daemon: Daemon) -> dict[str, object]:
    code, body = daemon.get("/status")
    return json.loads(body) if code == 200 else {}


def test_two_replicas_one_writes_and_the_standby_stays_idle_and_ready(
    sandbox: Sandbox, replica: Callable[..., Daemon], leases: LeaseServer, tmp_path: Path
) -> None:
    tree = numbered_tree(tmp_path / "m", 1, 2)
    first = replica("replica-a", tree, sandbox.endpoint, *FAST)
    eventually(lambda: first.get("/readyz")[0] == 200 and _status(first).get("leader") is True, timeout=60)
    second = replica("replica-b", tree, sandbox.endpoint, *FAST)
    eventually(lambda: second.events("leader.candidate"))
    code, body = second.get("/readyz")
    assert (code, json.loads(body)["role"]) == (200, "standby")
    assert second.get("/healthz")[0] == 200
    assert _status(second)["leader"] is False
    assert "reconciler_leader 0.0" in second.get("/metrics")[1]
    assert "reconciler_leader 1.0" in first.get("/metrics")[1]

    write_tree(tree, {"more.yaml": [route("r9", gateway="gw0", prefix="/nine")]})
    eventually(lambda: sandbox.stats.operations()["CreateGatewayRoute"] == 3)
    ops = sandbox.stats.operations()
    assert (ops["CreateVirtualGateway"], ops["CreateGatewayRoute"]) == (1, 3)  # once each: one writer
    assert second.events("reconcile.planned") == []  # the standby never even read App Mesh
    assert leases.holder(NAMESPACE, LEASE) == "replica-a"
    assert {w.holder for w in leases.history} == {"replica-a"}
    assert first.stop() == 0
    assert second.stop() == 0


def test_sigkill_the_leader_and_the_standby_takes_over_once_the_lease_expires_without_rewriting(
    sandbox: Sandbox, replica: Callable[..., Daemon], leases: LeaseServer, tmp_path: Path
) -> None:
    tree = numbered_tree(tmp_path / "m", 1, 3)
    first = replica("replica-a", tree, sandbox.endpoint, *FAST)
    eventually(lambda: first.get("/readyz")[0] == 200, timeout=60)
    second = replica("replica-b", tree, sandbox.endpoint, *FAST)
    eventually(lambda: second.events("leader.candidate"))
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    sandbox.stats.reset()
    eventually(lambda: _status(second).get("leader") is True, timeout=3 + 10)  # the lease duration and slack
    eventually(lambda: second.get("/readyz")[0] == 200, timeout=30)
    last_renewal = leases.writes_by("replica-a")[-1].at
    taken = leases.writes_by("replica-b")[0].at
    assert taken - last_renewal >= 3.0  # not before the dead leader's lease had run out
    assert sandbox.stats.writes() == 0  # it found everything applied: no write twice
    assert second.stop() == 0


def test_sigterm_releases_the_lease_and_the_standby_takes_over_without_waiting_for_expiry(
    sandbox: Sandbox, replica: Callable[..., Daemon], leases: LeaseServer, tmp_path: Path
) -> None:
    tree = numbered_tree(tmp_path / "m", 1, 1)
    slow = ["--lease-duration", "30", "--lease-renew-deadline", "20", "--lease-retry-period", "0.5"]
    first = replica("replica-a", tree, sandbox.endpoint, *slow)
    eventually(lambda: first.get("/readyz")[0] == 200, timeout=60)
    second = replica("replica-b", tree, sandbox.endpoint, *slow)
    eventually(lambda: second.events("leader.candidate"))
    assert first.stop() == 0
    assert first.events("leader.released")
    eventually(lambda: _status(second).get("leader") is True, timeout=20)
    release = leases.writes_by(None)[-1].at
    taken = leases.writes_by("replica-b")[0].at
    last_renewal = leases.writes_by("replica-a")[-1].at
    assert release <= taken < last_renewal + 30  # through the release, long before the lease would expire
    assert second.stop() == 0


def test_a_leader_that_loses_the_lease_stops_writing_at_once_and_exits_to_rejoin(
    make_sandbox: Callable[..., Sandbox], replica: Callable[..., Daemon], leases: LeaseServer, tmp_path: Path
) -> None:
    box = make_sandbox(Realism.real(latency=0.3))
    tree = numbered_tree(tmp_path / "m", 1, 150)
    first = replica("replica-a", tree, box.endpoint, *FAST, "--write-rate", "20")
    eventually(lambda: box.stats.writes() >= 5, timeout=60)
    leases.force(NAMESPACE, LEASE, "someone-else")
    assert first.process.wait(timeout=20) == 1
    (lost,) = first.events("leader.lost")
    assert lost["reason"] == "the Lease is held by someone-else"
    writes = box.stats.as_json()["writes_at"]
    assert len(writes) < 151  # it stopped part-way
    stopped = first.events("daemon.stopped")[0]
    assert stopped["left_undone"] > 0
    assert not first.events("leader.released")  # nothing to release: the Lease is not its own


def _prefixes(endpoint: str) -> set[str]:
    client = appmesh_client(endpoint)
    pages = client.get_paginator("list_gateway_routes").paginate(meshName="apps", virtualGatewayName="gw")
    names = [r["gatewayRouteName"] for page in pages for r in page["gatewayRoutes"]]
    return {
        client.describe_gateway_route(meshName="apps", virtualGatewayName="gw", gatewayRouteName=name)[
            "gatewayRoute"
        ]["spec"]["http2Route"]["match"]["prefix"]
        for name in names
    }


def test_a_leader_paused_past_the_lease_wakes_and_exits_without_writing(
    make_sandbox: Callable[..., Sandbox], replica: Callable[..., Daemon], leases: LeaseServer, tmp_path: Path
) -> None:
    box = make_sandbox(Realism.real(latency=0.2))
    routes = 60
    old = {"gw.yaml": [gateway()] + [route(f"r{i}", prefix=f"/old/{i}") for i in range(routes)]}
    new = {"gw.yaml": [gateway()] + [route(f"r{i}", prefix=f"/new/{i}") for i in range(routes)]}
    tree = write_tree(tmp_path / "m", old)
    first = replica("replica-a", tree, box.endpoint, *FAST, "--write-rate", "10")
    second = replica("replica-b", tree, box.endpoint, *FAST, "--write-rate", "200")
    eventually(lambda: box.stats.writes() >= 5, timeout=60)
    first.process.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen node: mid-apply
    try:
        write_tree(tree, new)  # the newer commit
        eventually(lambda: _status(second).get("leader") is True, timeout=3 + 10)
        eventually(lambda: _prefixes(box.endpoint) == {f"/new/{i}" for i in range(routes)}, timeout=60)
        eventually(lambda: second.get("/readyz")[0] == 200, timeout=30)
    finally:
        resumed = time.time()
        first.process.send_signal(signal.SIGCONT)
    assert first.process.wait(timeout=20) == 1  # it lost the Lease: exit, to rejoin as a candidate
    assert [at for at in box.stats.as_json()["writes_at"] if at > resumed] == []  # not one write
    assert _prefixes(box.endpoint) == {f"/new/{i}" for i in range(routes)}  # every route at the newer commit
    assert first.events("leader.lost")
    assert first.events("daemon.stopped")[0]["reason"] == "lease lost"
    assert second.stop() == 0


# --- the protocol, in-process against the stand-in -------------------------------------------


@pytest.fixture
def api(leases: LeaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], object]:
    monkeypatch.setenv("KUBECONFIG", str(leases.kubeconfig(tmp_path / "kubeconfig.json")))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return leader.connect


def _config(identity: str) -> LeaseConfig:
    return LeaseConfig(LEASE, NAMESPACE, identity, 3, 2, 0.2)


def test_of_candidates_racing_for_a_new_lease_exactly_one_leads(
    api: Callable[[], object], leases: LeaseServer
) -> None:
    electors = [leader.Elector(api(), _config(f"c{i}"), Shutdown()) for i in range(4)]
    barrier = threading.Barrier(len(electors))

    def once(elector: leader.Elector) -> None:
        barrier.wait()
        if elector._attempt():
            elector.role = leader.Role.LEADER

    threads = [threading.Thread(target=once, args=(e,)) for e in electors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(e.leading for e in electors) == 1
    (winner,) = [e for e in electors if e.leading]
    assert leases.holder(NAMESPACE, LEASE) == winner.lease.identity
    assert [w.method for w in leases.history] == ["POST"]  # the others got 409 AlreadyExists


def test_renewals_that_stall_past_the_deadline_stop_the_leader(
    api: Callable[[], object], leases: LeaseServer
) -> None:
    shutdown = Shutdown()
    elector = leader.Elector(api(), _config("slow"), shutdown)
    assert elector.wait_for_leadership()
    assert elector.healthy()[0]
    leases.stall = 1.5  # every renewal now outlasts its 1 s timeout
    assert shutdown.wait(10)  # the shutdown signal: no call starts after it
    assert elector.lost
    writes = len(leases.history)
    elector.release()  # a lost leader does not touch the Lease again
    leases.stall = 0.0
    assert not elector.leading
    assert len(leases.history) <= writes + 1  # at most the renewal already on the wire


def test_bad_lease_timing_is_refused() -> None:
    with pytest.raises(ValueError, match="retry period < renew deadline < lease duration"):
        LeaseConfig(LEASE, NAMESPACE, "x", duration=5, renew_deadline=5, retry_period=1)


def test_no_kube_api_means_a_clear_error_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not os.path.exists(tmp_path / "missing")
    from kubernetes.config import ConfigException

    with pytest.raises(ConfigException):
        leader.connect()
