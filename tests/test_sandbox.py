"""The sandbox's own control API, as tests and `make bench` use it from another process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from reconciler.sandbox import Sandbox

from .conftest import appmesh_client


def control(box: Sandbox, command: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{box.endpoint}/_sandbox/{command}", data=data, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


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
    assert "unknown realism setting 'chaos'" in body["message"]
    assert control(sandbox, "nope")[0] == 404


def test_reset_empties_app_mesh_and_the_counters(sandbox: Sandbox) -> None:
    client = appmesh_client(sandbox.endpoint)
    client.create_mesh(meshName="other")
    assert control(sandbox, "reset", {}) == (200, {"reset": True})
    assert client.list_meshes()["meshes"] == []
    assert control(sandbox, "stats")[1]["calls"] == [["ListMeshes", 200, 1]]
