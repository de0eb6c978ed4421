"""Operating it like Flux: the applied revision, /status, notifications, per-resource opt-outs
and suspend, against the sandbox and a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox

from .helpers import (
    Daemon,
    appmesh_client,
    eventually,
    gateway,
    reconcile,
    route,
    settings_document,
    write_tree,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


class Receiver:
    """A webhook receiver and a GitHub API stand-in on 127.0.0.1, recording every POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append((self.path, dict(self.headers), body))
                self.send_response(201)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def git_sync_layout(root: Path, sha: str, files: dict[str, Any]) -> Path:
    """What git-sync publishes: <root>/current -> .worktrees/<sha>, the manifests inside."""
    write_tree(root / ".worktrees" / sha / "manifests", files)
    (root / "current").symlink_to(Path(".worktrees") / sha)
    return root / "current" / "manifests"


def test_status_metrics_webhook_and_commit_status_name_the_applied_sha(
    sandbox: Sandbox,
    start_daemon: Callable[..., Daemon],
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests = git_sync_layout(tmp_path / "git", SHA, {"m.yaml": [gateway(), route()]})
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    daemon = start_daemon(
        manifests,
        sandbox.endpoint,
        "--resync-interval",
        "300",
        "--notify-webhook",
        f"{receiver.url}/hook?token=secret",
        "--github-status-repo",
        "acme/manifests",
        "--github-api-url",
        receiver.url,
    )
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    status = json.loads(daemon.get("/status")[1])
    assert status["lastAppliedRevision"] == SHA
    assert status["lastAttemptedRevision"] == SHA
    assert status["lastResult"] == "success"
    assert status["suspended"] is False
    assert status["leader"] is True
    assert {(r["address"], r["status"]) for r in status["resources"]} == {
        ("apps/gw", "ACTIVE"),
        ("apps/gw/rt", "ACTIVE"),
    }
    assert f'reconciler_applied_revision_info{{revision="{SHA}"}} 1.0' in daemon.get("/metrics")[1]
    eventually(lambda: len(receiver.posts) >= 3)
    hooks = [body for path, _h, body in receiver.posts if path.startswith("/hook")]
    assert hooks[0]["revision"] == SHA
    assert hooks[0]["result"] == "success"
    assert hooks[0]["counts"]["create"] == 2
    statuses = [(path, h, body) for path, h, body in receiver.posts if path.startswith("/repos")]
    assert [body["state"] for _p, _h, body in statuses] == ["pending", "success"]
    assert statuses[0][0] == f"/repos/acme/manifests/statuses/{SHA}"
    assert statuses[0][1]["Authorization"] == "Bearer ghp_secret"
    assert all(e.get("revision") == SHA for e in daemon.events("reconcile.planned"))
    log = daemon.log.read_text()
    assert "secret" not in log  # neither the webhook URL nor the token is ever logged
    assert daemon.stop() == 0


def test_a_failing_receiver_never_blocks_reconciling(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway()]})
    daemon = start_daemon(tree, sandbox.endpoint, "--notify-webhook", "http://127.0.0.1:9/unreachable")
    eventually(lambda: daemon.get("/readyz")[0] == 200)
    write_tree(tree, {"m.yaml": [gateway(), route()]})
    client = appmesh_client(sandbox.endpoint)
    eventually(lambda: client.list_gateway_routes(meshName="apps", virtualGatewayName="gw")["gatewayRoutes"])
    eventually(lambda: daemon.events("notify.failed"))
    assert daemon.stop() == 0


def test_reconcile_disabled_is_never_touched_and_the_plan_says_so(sandbox: Sandbox, tmp_path: Path) -> None:
    alone = route("alone", annotations={"reconciler.appmesh/reconcile": "disabled"})
    write_tree(tmp_path, {"m.yaml": [gateway(), alone, route("managed")]})
    plan = json.loads(
        reconcile("--dry-run", "-o", "json", "-f", str(tmp_path), endpoint=sandbox.endpoint).stdout
    )
    (skipped,) = [r for r in plan["resources"] if r["skipped"]]
    assert skipped["address"] == "apps/gw/alone"
    assert skipped["actions"] == ["no-op"]
    assert "reconciler.appmesh/reconcile is disabled" in skipped["reason"]
    assert reconcile("-f", str(tmp_path), endpoint=sandbox.endpoint).returncode == 0
    names = [
        r["gatewayRouteName"]
        for r in appmesh_client(sandbox.endpoint).list_gateway_routes(
            meshName="apps", virtualGatewayName="gw"
        )["gatewayRoutes"]
    ]
    assert names == ["managed"]


def test_prune_disabled_survives_prune_after_its_manifest_is_gone(sandbox: Sandbox, tmp_path: Path) -> None:
    kept = route("kept", annotations={"reconciler.appmesh/prune": "disabled"})
    write_tree(
        tmp_path,
        {"s.yaml": [settings_document("r", prune=True)], "m.yaml": [gateway(), kept, route("other")]},
    )
    assert reconcile("-f", str(tmp_path), endpoint=sandbox.endpoint).returncode == 0
    client = appmesh_client(sandbox.endpoint)
    arn = client.describe_gateway_route(meshName="apps", virtualGatewayName="gw", gatewayRouteName="kept")[
        "gatewayRoute"
    ]["metadata"]["arn"]
    assert {"key": "reconciler.appmesh/prune", "value": "disabled"} in client.list_tags_for_resource(
        resourceArn=arn
    )["tags"]
    write_tree(tmp_path, {"m.yaml": [gateway()]})
    done = reconcile("-f", str(tmp_path), endpoint=sandbox.endpoint)
    assert done.returncode == 0, done.stdout
    assert "GatewayRoute apps/gw/kept is kept: its reconciler.appmesh/prune tag is disabled" in done.stdout
    names = [
        r["gatewayRouteName"]
        for r in client.list_gateway_routes(meshName="apps", virtualGatewayName="gw")["gatewayRoutes"]
    ]
    assert names == ["kept"]  # "other" was pruned, "kept" was not


def test_unknown_reconciler_annotations_are_refused(tmp_path: Path) -> None:
    write_tree(tmp_path, {"m.yaml": [gateway(annotations={"reconciler.appmesh/prun": "disabled"})]})
    done = reconcile("validate", "-f", str(tmp_path))
    assert done.returncode == 1
    assert "unknown annotation 'reconciler.appmesh/prun'" in done.stderr


def test_suspend_plans_and_reports_drift_but_writes_nothing(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(
        tmp_path / "m", {"s.yaml": [settings_document("r", suspend=True)], "m.yaml": [gateway()]}
    )
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: daemon.events("reconcile.suspended"))
    status = json.loads(daemon.get("/status")[1])
    assert status["suspended"] is True
    assert (status["lastResult"], status["lastAppliedRevision"], status["lastSuccessTime"]) == (
        "suspended",
        "",
        "",
    )
    assert status["lastAttemptedRevision"].startswith("sha256:")  # planned, never applied
    metrics = daemon.get("/metrics")[1]
    assert "reconciler_suspended 1.0" in metrics
    assert "reconciler_applied_revision_info{" not in metrics
    assert 'reconciler_last_run_result{result="suspended"} 1.0' in metrics
    assert daemon.get("/readyz")[0] == 200  # a rollout is not held up by a suspended tree
    assert sandbox.stats.writes() == 0
    assert daemon.stop() == 0
    once = reconcile("-f", str(tree), endpoint=sandbox.endpoint)
    assert sandbox.stats.writes() == 0, once.stdout


def test_a_suspended_commit_is_not_applied_even_when_live_already_matches_it(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "m", {"m.yaml": [gateway()]})
    assert reconcile("-f", str(tree), endpoint=sandbox.endpoint).returncode == 0
    write_tree(tree, {"s.yaml": [settings_document("r", suspend=True)]})
    daemon = start_daemon(tree, sandbox.endpoint, "--resync-interval", "300")
    eventually(lambda: daemon.events("reconcile.suspended"))
    status = json.loads(daemon.get("/status")[1])
    assert (status["lastResult"], status["lastAppliedRevision"]) == ("suspended", "")
    assert "reconciler_applied_revision_info{" not in daemon.get("/metrics")[1]
    assert daemon.stop() == 0


def test_a_failing_run_of_any_kind_notifies_once_per_distinct_failure(
    sandbox: Sandbox,
    start_daemon: Callable[..., Daemon],
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests = git_sync_layout(tmp_path / "git", SHA, {"m.yaml": [gateway()]})
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    sandbox.control.realism(unavailable=1.0)  # App Mesh answers 503 to every call
    daemon = start_daemon(
        manifests,
        sandbox.endpoint,
        "--resync-interval",
        "300",
        "--max-attempts",
        "2",
        "--notify-webhook",
        f"{receiver.url}/hook",
        "--github-status-repo",
        "acme/manifests",
        "--github-api-url",
        receiver.url,
    )
    eventually(lambda: len(daemon.events("reconcile.failed")) >= 3)  # the start and two retries
    sandbox.control.realism(unavailable=0.0)
    eventually(lambda: daemon.get("/readyz")[0] == 200, timeout=30)
    # Notices go out in order on one thread, the commit status last: once it says success,
    # every earlier notice has arrived.
    eventually(lambda: any(body.get("state") == "success" for _p, _h, body in receiver.posts))
    hooks = [body["result"] for path, _h, body in receiver.posts if path.startswith("/hook")]
    assert hooks == ["failure", "success"]
    states = [body["state"] for path, _h, body in receiver.posts if path.startswith("/repos")]
    assert states == ["failure", "pending", "success"]
    assert daemon.stop() == 0
