"""Live reads with moto's in-process mock: a steady-state resync costs the List calls only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.appmesh_client import AppMesh
from reconciler.errors import NotFound
from reconciler.live import LiveReader
from reconciler.resources import Key, Scope

from .helpers import in_process_mesh, route

APPS = Scope("apps")


@pytest.fixture
def client() -> Iterator[Any]:
    with in_process_mesh(3, 4, tag_routes=True) as c:
        yield c


def counting(client: Any) -> tuple[AppMesh, Counter[str]]:
    calls: Counter[str] = Counter()
    return AppMesh(client, observe=lambda op, _status: calls.update([op])), calls


def test_steady_state_resync_costs_only_list_calls(client: Any) -> None:
    mesh, calls = counting(client)
    reader = LiveReader(mesh)
    first = reader.read({APPS}, want_tags=lambda _key: True)
    assert len(first) == 3 + 12
    assert first[Key.route_key(APPS, "g1", "r2")].tags == {"k": "2"}
    assert calls == {
        "ListVirtualGateways": 1,
        "ListGatewayRoutes": 3,
        "DescribeVirtualGateway": 3,
        "DescribeGatewayRoute": 12,
        "ListTagsForResource": 15,
    }
    calls.clear()
    assert reader.read({APPS}, want_tags=lambda _key: True) == first
    assert calls == {"ListVirtualGateways": 1, "ListGatewayRoutes": 3}  # 1 + G


def test_a_changed_resource_is_described_again(client: Any) -> None:
    mesh, calls = counting(client)
    reader = LiveReader(mesh)
    reader.read({APPS}, want_tags=lambda _key: False)
    changed = route(prefix="/changed")["spec"]
    client.update_gateway_route(meshName="apps", virtualGatewayName="g0", gatewayRouteName="r0", spec=changed)
    calls.clear()
    live = reader.read({APPS}, want_tags=lambda _key: False)
    assert calls["DescribeGatewayRoute"] == 1
    assert calls["DescribeVirtualGateway"] == 0
    assert live[Key.route_key(APPS, "g0", "r0")].spec["http2Route"]["match"]["prefix"] == "/changed"


def test_tags_are_read_only_where_asked(client: Any) -> None:
    mesh, calls = counting(client)
    live = LiveReader(mesh).read(
        {APPS}, want_tags=lambda key: key.gateway == "g0" and key.kind == "GatewayRoute"
    )
    assert calls["ListTagsForResource"] == 4
    assert live[Key.gateway_key(APPS, "g0")].tags is None


def test_a_missing_mesh_names_the_mesh(client: Any) -> None:
    mesh, _ = counting(client)
    with pytest.raises(NotFound) as caught:
        LiveReader(mesh).read({Scope("nope")}, want_tags=lambda _key: False)
    assert "mesh 'nope' does not exist or is not shared with this account" in str(caught.value)


def test_pages_are_followed(client: Any) -> None:
    for r in range(4, 30):
        client.create_gateway_route(
            meshName="apps", virtualGatewayName="g0", gatewayRouteName=f"r{r}", spec=route()["spec"]
        )
    mesh, _ = counting(client)
    names = [s.key.name for s in mesh.summaries(APPS, "GatewayRoute", "g0")]
    assert len(names) == 30


def test_a_resource_gone_between_list_and_describe_is_left_out_and_reported(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh, _ = counting(client)
    gone = Key.route_key(APPS, "g0", "r1")
    real_describe = mesh.describe

    def describe(key: Key) -> Any:
        if key == gone:  # deleted by someone else after our List
            raise NotFound("no such route", code="NotFoundException", status=404)
        return real_describe(key)

    monkeypatch.setattr(mesh, "describe", describe)
    vanished: list[Key] = []
    live = LiveReader(mesh).read({APPS}, lambda _key: False, vanished.append)
    assert gone not in live
    assert vanished == [gone]
    assert len(live) == 3 + 12 - 1
