"""An edit costs what it changes: the loader's cache, the touched gateways, partial plans and reads."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import loader, model
from reconciler.appmesh_client import AppMesh, Connection
from reconciler.daemon.loop import Daemon, Reason
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify import Notifier
from reconciler.daemon.options import DaemonOptions
from reconciler.engine import Reconciler
from reconciler.live import LiveReader
from reconciler.plan import Action, make_plan
from reconciler.resources import Key, Live, Scope, touched
from reconciler.sandbox import Sandbox
from reconciler.settings import Overrides, Settings
from reconciler.shutdown import Shutdown

from .helpers import gateway, in_process_mesh, route, write_tree

APPS = Scope("apps")
OWNED = {model.OWNER_TAG: "default"}


def two_gateways(root: Path, prefix: str = "/") -> Path:
    return write_tree(
        root,
        {
            "a.yaml": [gateway("a"), route("a1", gateway="a", prefix=prefix), route("a2", gateway="a")],
            "b.yaml": [gateway("b"), route("b1", gateway="b")],
        },
    )


def test_a_load_parses_only_the_files_whose_bytes_changed(tmp_path: Path) -> None:
    root = two_gateways(tmp_path / "tree")
    cache = loader.Cache()
    first = loader.load(root, cache=cache)
    assert cache.parsed == 2
    same = loader.load(root, cache=cache)
    assert cache.parsed == 0
    assert same.state.resources == first.state.resources
    assert same.digest == first.digest
    two_gateways(tmp_path / "tree", prefix="/edited")
    edited = loader.load(root, cache=cache)
    assert cache.parsed == 1
    assert edited.digest != first.digest
    assert edited.state.resources[Key.route_key(APPS, "a", "a1")].spec["http2Route"]["match"] == {
        "prefix": "/edited"
    }


def test_a_swapped_root_relocates_the_cached_results(tmp_path: Path) -> None:
    """git-sync publishes every revision under a new root: unchanged files are not parsed again."""
    cache = loader.Cache()
    first = loader.load(two_gateways(tmp_path / "rev1"), cache=cache)
    shutil.copytree(tmp_path / "rev1", tmp_path / "rev2")
    second = loader.load(tmp_path / "rev2", cache=cache)
    assert cache.parsed == 0
    assert second.digest == first.digest
    assert {d.source.file for d in second.state.resources.values()} == {
        str(tmp_path / "rev2" / "a.yaml"),
        str(tmp_path / "rev2" / "b.yaml"),
    }
    assert touched(first.state, second.state, second.changed_keys(first)) == set()


def test_a_cached_file_still_counts_against_the_document_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = two_gateways(tmp_path / "tree")
    cache = loader.Cache()
    assert loader.load(root, cache=cache).ok
    monkeypatch.setattr(loader, "MAX_DOCUMENTS", 4)  # a.yaml holds 3 documents, b.yaml 2
    over = loader.load(root, cache=cache)
    assert cache.parsed == 0
    assert [p.message for p in over.problems if p.severity.value == "error"] == [
        "the tree holds more than 4 documents, the limit"
    ]


def test_touched_names_the_gateways_of_every_changed_added_or_removed_resource(tmp_path: Path) -> None:
    cache = loader.Cache()
    root = two_gateways(tmp_path / "tree")
    first = loader.load(root, cache=cache)
    write_tree(
        root,
        {
            "a.yaml": [gateway("a"), route("a1", gateway="a", prefix="/new"), route("a2", gateway="a")],
            "c.yaml": [gateway("c")],
        },
    )
    second = loader.load(root, cache=cache)
    assert second.changed_keys(first) == {
        Key.gateway_key(APPS, "a"),
        Key.route_key(APPS, "a", "a1"),
        Key.route_key(APPS, "a", "a2"),
        Key.gateway_key(APPS, "c"),
    }  # b.yaml is unchanged: none of its resources is even compared
    changed = second.changed_keys(first)
    assert touched(first.state, second.state, changed) == {
        Key.gateway_key(APPS, "a"),
        Key.gateway_key(APPS, "c"),
    }
    write_tree(root, {"b.yaml": [gateway("b")]})
    third = loader.load(root, cache=cache)
    assert touched(second.state, third.state, third.changed_keys(second)) == {Key.gateway_key(APPS, "b")}


def live_of(state: Any) -> dict[Key, Live]:
    return {
        key: Live(key, dict(d.spec), f"arn:{key.address}", 1, {**d.tags, **OWNED})
        for key, d in state.resources.items()
    }


def test_a_partial_plan_plans_only_the_gateways_given(tmp_path: Path) -> None:
    state = loader.load(two_gateways(tmp_path / "tree", prefix="/edited")).state
    live = live_of(loader.load(two_gateways(tmp_path / "live")).state)
    gateway_a = Key.gateway_key(APPS, "a")
    plan = make_plan(state, {k: v for k, v in live.items() if k.gateway == "a"}, Settings(), (), {gateway_a})
    assert [(s.key.address, s.actions) for s in plan.steps] == [
        ("apps/a", ()),
        ("apps/a/a1", (Action.UPDATE,)),
        ("apps/a/a2", ()),
    ]
    full = make_plan(state, live, Settings())
    assert [s for s in full.steps if s.key.gateway == "a"] == plan.steps


def test_a_partial_prune_of_one_gateway_is_no_empty_mesh(tmp_path: Path) -> None:
    """Deleting one gateway's resources while the mesh keeps others is not 'an empty manifest set'."""
    state = loader.load(
        write_tree(tmp_path / "tree", {"b.yaml": [gateway("b"), route("b1", gateway="b")]})
    ).state
    live = live_of(loader.load(two_gateways(tmp_path / "live")).state)
    gateway_a = Key.gateway_key(APPS, "a")
    only_a = {k: v for k, v in live.items() if k.gateway == "a"}
    plan = make_plan(state, only_a, Settings(prune=True), (), {gateway_a})
    assert not plan.blocked, plan.findings
    assert [(s.key.address, s.actions) for s in plan.steps] == [
        ("apps/a", (Action.DELETE,)),
        ("apps/a/a1", (Action.DELETE,)),
        ("apps/a/a2", (Action.DELETE,)),
    ]


@pytest.fixture
def client() -> Iterator[Any]:
    with in_process_mesh(5, 3) as c:
        yield c


def test_reading_one_gateway_costs_one_describe_and_one_list(client: Any) -> None:
    calls: Counter[str] = Counter()
    reader = LiveReader(AppMesh(client, observe=lambda op, _status: calls.update([op])))
    everything = reader.read({APPS}, want_tags=lambda _key: False)
    calls.clear()
    g2 = Key.gateway_key(APPS, "g2")
    part = reader.read_gateways({g2, Key.gateway_key(APPS, "absent")}, want_tags=lambda _key: False)
    assert part == {k: v for k, v in everything.items() if k.gateway == "g2"}
    assert calls == {"DescribeVirtualGateway": 2, "ListGatewayRoutes": 1}  # the absent one: a 404


def test_a_daemon_change_run_reads_and_plans_only_the_gateway_it_touches(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    files = {f"gw{g}.yaml": [gateway(f"gw{g}"), route("r", gateway=f"gw{g}")] for g in range(4)}
    tree = write_tree(tmp_path / "m", files)
    shutdown = Shutdown()
    mesh = AppMesh.connect(Connection(region="us-east-1", endpoint_url=sandbox.endpoint), shutdown=shutdown)
    daemon = Daemon(
        tree,
        Reconciler(mesh, shutdown),
        options=DaemonOptions(),
        overrides=Overrides(),
        metrics=Metrics(),
        shutdown=shutdown,
        notifier=Notifier(shutdown),
    )
    daemon._reconcile(Reason.START)
    sandbox.stats.reset()
    write_tree(tree, {"gw2.yaml": [gateway("gw2"), route("r", gateway="gw2", prefix="/edited")]})
    daemon._reconcile(Reason.CHANGE)
    assert sandbox.stats.operations() == {
        "DescribeVirtualGateway": 1,
        "ListGatewayRoutes": 1,
        "UpdateGatewayRoute": 1,
    }
    status = daemon.status()[1]
    assert status["lastResult"] == "success"
    assert len(status["resources"]) == 8  # the gateways it did not read are still listed
    assert [r["lastAction"] for r in status["resources"] if r["address"] == "apps/gw2/r"] == ["update done"]
    sandbox.stats.reset()
    daemon._reconcile(Reason.RESYNC)  # a resync reads every gateway again
    assert sandbox.stats.operations()["ListGatewayRoutes"] == 4
