"""The probe port tells whoever reaches it the daemon's state, not the account, role session or manifests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from reconciler.daemon.metrics import WITHHELD, public
from reconciler.sandbox import Sandbox

from .helpers import Daemon, eventually, gateway, route, write_tree

DENIED = (
    "not authorised (CreateGatewayRoute: 403 AccessDeniedException): User: "
    "arn:aws:sts::123456789012:assumed-role/appmesh-reconciler/botocore-session-1712 is not authorized"
)


def test_error_texts_and_mesh_owners_are_withheld_keys_and_types_kept() -> None:
    shared = {
        "identity": {"kind": "VirtualGateway", "mesh": "apps", "meshOwner": "210987654321", "name": "gw"},
        "address": "apps@210987654321/gw",
        "lastAction": "create done",
        "status": "ACTIVE",
    }
    own = {"identity": {"kind": "VirtualGateway", "mesh": "apps", "name": "gw"}, "address": "apps/gw"}
    answer = {
        "reason": "the last reconcile failed",
        "error": DENIED,
        "lastError": DENIED,
        "errors": ["error: /git/current/manifests/secret-team.yaml:3: spec.x: unknown field 'x'"] * 3,
        "resources": [shared, own],
        "lastResult": "failure",
    }
    shown = public(answer)
    text = json.dumps(shown)
    for secret in ("123456789012", "botocore-session", "assumed-role", "secret-team", "210987654321"):
        assert secret not in text
    assert shown["error"] == shown["lastError"] == WITHHELD
    assert shown["errors"] == [f"3 error(s) {WITHHELD}"]
    assert shown["resources"][0]["identity"]["meshOwner"] == "withheld"
    assert shown["resources"][0]["address"] == "apps@withheld/gw"
    assert shown["resources"][1] == own
    assert (shown["reason"], shown["lastResult"]) == ("the last reconcile failed", "failure")
    assert public({"lastError": "", "errors": []}) == {"lastError": "", "errors": []}  # nothing to withhold


def _invalid(tree: Path) -> None:
    bad = route(prefix="/bad")
    bad["spec"]["http2Route"]["match"]["method"] = "FETCH"
    write_tree(tree, {"secret-team.yaml": [gateway(), bad]})


def _invalid_answer(daemon: Daemon) -> str:
    """/readyz's body once the invalid tree is read (before that, it is not ready for another reason)."""
    status, body = daemon.get("/readyz")
    return body if status == 503 and "the manifests are invalid" in body else ""


def test_readyz_withholds_manifest_errors_unless_asked(
    sandbox: Sandbox, start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    quiet = write_tree(tmp_path / "quiet", {})
    _invalid(quiet)
    daemon = start_daemon(quiet, sandbox.endpoint, "--resync-interval", "300")
    body = eventually(lambda: _invalid_answer(daemon))
    assert "secret-team" not in body
    assert "FETCH" not in body
    assert "1 error(s) withheld" in body
    assert "secret-team.yaml" in daemon.events("manifests.invalid")[0]["errors"][0]  # the logs keep it
    assert "secret-team" not in daemon.get("/status")[1]

    told = write_tree(tmp_path / "told", {})
    _invalid(told)
    detailed = start_daemon(told, sandbox.endpoint, "--resync-interval", "300", "--status-detail")
    assert "secret-team.yaml" in eventually(lambda: _invalid_answer(detailed))
    assert daemon.stop() == 0
    assert detailed.stop() == 0
