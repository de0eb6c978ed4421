"""The sandbox's own control API, as tests and `make bench` use it from another process."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.sandbox import Control, ControlRefused, Realism, Sandbox

from .helpers import appmesh_client, command


def control(
    box: Sandbox, command: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """The status and answer of one control request, refusals included."""
    try:
        return 200, Control(box.endpoint, headers).call(command, body)
    except ControlRefused as exc:
        return exc.status, {"message": exc.message}


def test_realism_settings_take_effect_and_stats_count_them(sandbox: Sandbox) -> None:
    status, settings = control(sandbox, "realism", {"throttle": 1.0})
    assert status == 200
    assert settings["throttle"] == 1.0
    client = appmesh_client(sandbox.endpoint)
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.list_virtual_gateways(meshName="apps")
    control(sandbox, "realism", {"throttle": 0.0})
    client.list_virtual_gateways(meshName="apps")
    _, stats = control(sandbox, "stats")
    assert sorted(map(tuple, stats["calls"])) == [
        ("ListVirtualGateways", 200, 1),
        ("ListVirtualGateways", 429, 1),
    ]
    assert stats["writes_at"] == []


def test_unknown_setting_and_command_are_refused(sandbox: Sandbox) -> None:
    status, body = control(sandbox, "realism", {"chaos": 1})
    assert status == 400
    assert "chaos" in body["message"]
    assert "Extra inputs are not permitted" in body["message"]
    assert control(sandbox, "nope")[0] == 404


def test_reset_empties_app_mesh_and_the_counters(sandbox: Sandbox) -> None:
    client = appmesh_client(sandbox.endpoint)
    client.create_mesh(meshName="other")
    assert control(sandbox, "reset", {}) == (200, {"reset": True})
    assert client.list_meshes()["meshes"] == []
    assert control(sandbox, "stats")[1]["calls"] == [["ListMeshes", 200, 1]]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"throttle": "abc"}, "throttle"),
        ({"write_rate": -1}, "write_rate"),
        ({"latency": 1e9}, "latency"),
        ({"throttle": 0.6, "unavailable": 0.6}, "must not exceed 1"),
        ({"real_errors": "yes"}, "real_errors"),
    ],
)
def test_bad_realism_settings_are_refused_and_change_nothing(
    sandbox: Sandbox, change: dict[str, Any], reason: str
) -> None:
    status, body = control(sandbox, "realism", change)
    assert status == 400
    assert reason in body["message"]
    client = appmesh_client(sandbox.endpoint)
    client.list_virtual_gateways(meshName="apps")  # still answering App Mesh calls
    assert control(sandbox, "realism", {})[1]["throttle"] == 0.0


def test_requests_from_another_host_or_origin_are_refused(sandbox: Sandbox) -> None:
    """A web page (CSRF) or a DNS name rebound to 127.0.0.1 cannot drive the sandbox."""
    assert control(sandbox, "stats", headers={"Host": "evil.example"})[0] == 403
    status, body = control(sandbox, "realism", {"throttle": 1.0}, headers={"Origin": "https://evil.example"})
    assert status == 403
    assert "evil.example" in body["message"]
    assert control(sandbox, "realism", {})[1]["throttle"] == 0.0
    assert control(sandbox, "stats", headers={"Origin": sandbox.endpoint})[0] == 200


def test_the_sandbox_command_serves_until_stopped() -> None:
    import subprocess

    process = subprocess.Popen(command("sandbox", "--no-demo"), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().split()[4]
        client = appmesh_client(endpoint)
        client.create_mesh(meshName="apps")
        assert [m["meshName"] for m in client.list_meshes()["meshes"]] == ["apps"]
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_constructor_and_the_control_api_share_one_realism_with_its_bounds(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="must not exceed 1"):
        Realism(throttle=0.6, lost=0.6)
    with pytest.raises(ValueError, match="latency"):
        Realism.real(latency=1e9)
    assert sandbox.control.realism(unavailable=0.5) == Realism.real(unavailable=0.5)
    assert sandbox.realism == Realism.real(unavailable=0.5)  # the in-process view follows the API
