"""Manifest loading: every bad input gets a message naming file, document and field."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import loader
from reconciler.gcpause import paused_gc
from reconciler.problems import Problem, Severity, errors
from reconciler.resources import Key, Scope

from .helpers import gateway, route, write_tree

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)


def load(tmp_path: Path, files: dict[str, Any]) -> loader.LoadResult:
    return loader.load(write_tree(tmp_path, files))


def only_error(result: loader.LoadResult) -> Problem:
    found = errors(result.problems)
    assert len(found) == 1, found
    return found[0]


def test_examples_load(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        {
            "a.yaml": [gateway(), route()],
            "b.json": '{"apiVersion": "appmesh.reconciler/v1",'
            ' "kind": "VirtualGateway",'
            ' "metadata": {"name": "g2", "mesh": "apps", "meshOwner": "123456789012"},'
            ' "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}',
        },
    )
    assert result.problems == []
    assert sorted(result.state.resources) == [
        Key.gateway_key(Scope("apps"), "gw"),
        Key.route_key(Scope("apps"), "gw", "rt"),
        Key.gateway_key(Scope("apps", "123456789012"), "g2"),
    ]
    assert result.state.scopes == {Scope("apps"), Scope("apps", "123456789012")}


def test_shipped_examples_are_valid() -> None:
    result = loader.load(Path(__file__).parent.parent / "manifests")
    assert result.problems == []
    assert len(result.state.resources) == 5


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    return doc


def _unset(doc: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    del node[last]
    return doc


MATCH = "spec.http2Route.match"
CASES: list[tuple[str, Any, str, str]] = [
    ("invalid yaml", "apiVersion: [v1\nkind: x\n", "", "invalid YAML"),
    ("not a mapping", "- a\n- b\n", "", "must be a mapping, not a list"),
    ("missing apiVersion", [_unset(gateway(), "apiVersion")], "apiVersion", "missing apiVersion"),
    ("unknown apiVersion", [_set(gateway(), "apiVersion", "v2")], "apiVersion", "unknown apiVersion 'v2'"),
    ("missing kind", [_unset(gateway(), "kind")], "kind", "missing kind"),
    ("unknown kind", [_set(gateway(), "kind", "VirtualNode")], "kind", "unknown kind 'VirtualNode'"),
    ("unknown field", [_set(gateway(), "spec.tracing", {})], "spec.tracing", "unknown field 'tracing'"),
    ("wrong type", [_set(gateway(), "spec.listeners", {"port": 80})], "spec.listeners", "valid list"),
    ("string for number", [_set(route(), f"{MATCH}.port", "80")], f"{MATCH}.port", "valid integer"),
    ("out of range", [_set(route(), "spec.priority", 1001)], "spec.priority", "less than or equal to 1000"),
    ("too-long name", [_set(gateway(), "metadata.name", "g" * 256)], "metadata.name", "at most 255"),
    ("bad mesh owner", [_set(gateway(), "metadata.meshOwner", "12345")], "metadata.meshOwner", "at least 12"),
    ("bad enum", [_set(route(), f"{MATCH}.method", "FETCH")], f"{MATCH}.method", "'GET'"),
    ("no slash", [_set(route(), f"{MATCH}.prefix", "api")], f"{MATCH}.prefix", "must start with '/'"),
    ("tag value type", [_set(gateway(), "metadata.tags", {"team": 7})], "metadata.tags.team", "valid string"),
    ("reserved tag", [_set(gateway(), "metadata.tags", {"aws:x": "y"})], "metadata.tags", "reserved"),
    ("no route gateway", [_unset(route(), "metadata.virtualGateway")], "metadata.virtualGateway", "missing"),
    (
        "two route types",
        [_set(route(), "spec.httpRoute", route()["spec"]["http2Route"])],
        "spec",
        "set exactly one of: grpcRoute, http2Route, httpRoute (found: http2Route, httpRoute)",
    ),
    (
        "header with two methods",
        [_set(route(), f"{MATCH}.headers", [{"name": "h", "match": {"exact": "a", "prefix": "b"}}])],
        f"{MATCH}.headers[0].match",
        "set exactly one of: exact, prefix, range, regex, suffix",
    ),
    (
        "eleven headers",
        [_set(route(), f"{MATCH}.headers", [{"name": f"h{i}"} for i in range(11)])],
        f"{MATCH}.headers",
        "at most 10 items",
    ),
    (
        "two certificate sources",
        [
            _set(
                gateway(),
                "spec.listeners.0.tls",
                {
                    "mode": "STRICT",
                    "certificate": {
                        "acm": {"certificateArn": "arn"},
                        "file": {"certificateChain": "/a", "privateKey": "/b"},
                    },
                },
            )
        ],
        "spec.listeners[0].tls.certificate",
        "set exactly one of: acm, file, sds (found: acm, file)",
    ),
    (
        "access log json and text",
        [
            _set(
                gateway(),
                "spec.logging",
                {
                    "accessLog": {
                        "file": {
                            "path": "/dev/stdout",
                            "format": {"text": "%START_TIME%", "json": [{"key": "a", "value": "b"}]},
                        }
                    }
                },
            )
        ],
        "spec.logging.accessLog.file.format",
        "set exactly one of: json, text",
    ),
]


@pytest.mark.parametrize(("content", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_file_document_and_field(
    tmp_path: Path, content: Any, path: str, message: str
) -> None:
    problem = only_error(load(tmp_path, {"bad.yaml": content}))
    assert problem.file == str(tmp_path / "bad.yaml")
    assert problem.path == path
    assert message in problem.message
    assert problem.line is not None


def test_near_misses_get_a_suggestion(tmp_path: Path) -> None:
    doc = route()
    doc["spec"]["http2Route"]["action"]["target"]["virtualService"] = {"virtualServicename": "x"}
    doc["metadata"]["mesh_owner"] = "123456789012"
    result = load(tmp_path, {"r.yaml": [doc]})
    hints = {p.path: p.hint for p in result.problems}
    assert hints["spec.http2Route.action.target.virtualService.virtualServicename"] == (
        "did you mean 'virtualServiceName'?"
    )
    assert hints["metadata.mesh_owner"] == "did you mean 'meshOwner'?"


def test_every_problem_in_the_tree_is_reported_with_its_document(tmp_path: Path) -> None:
    bad = _set(gateway("g2"), "spec.listeners.0.portMapping.port", 0)
    result = load(tmp_path, {"a.yaml": [gateway(), bad], "b.yaml": "{", "c.yaml": [_unset(route(), "spec")]})
    found = [(Path(p.file).name, p.document, p.path) for p in errors(result.problems)]
    assert found == [
        ("a.yaml", 2, "spec.listeners[0].portMapping.port"),
        ("b.yaml", 1, ""),
        ("c.yaml", 1, "spec"),
    ]


def test_line_points_at_the_field(tmp_path: Path) -> None:
    text = "apiVersion: appmesh.reconciler/v1\nkind: GatewayRoute\nmetadata:\n  name: r\n  mesh: m\n"
    text += "  virtualGateway: g\nspec:\n  httpRoute:\n"
    text += "    action: {target: {virtualService: {virtualServiceName: s}}}\n"
    text += "    match:\n      prefix: nope\n"
    problem = only_error(load(tmp_path, {"r.yaml": text}))
    assert problem.line == 11


def test_duplicate_identity_names_both_files(tmp_path: Path) -> None:
    problem = only_error(load(tmp_path, {"a.yaml": [gateway()], "sub/b.yaml": [gateway()]}))
    assert problem.file == str(tmp_path / "sub/b.yaml")
    assert str(tmp_path / "a.yaml") in problem.message
    assert "VirtualGateway apps/gw is defined twice" in problem.message


def test_same_name_in_another_mesh_or_owner_is_no_clash(tmp_path: Path) -> None:
    result = load(tmp_path, {"a.yaml": [gateway(), gateway(mesh="other"), gateway(meshOwner="123456789012")]})
    assert result.problems == []
    assert len(result.state.resources) == 3


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    problem = only_error(load(tmp_path, {"a.yaml": "kind: VirtualGateway\nkind: GatewayRoute\n"}))
    assert problem.message == "duplicate key 'kind' (first at line 1)"
    assert problem.line == 2


def test_empty_and_missing_directories(tmp_path: Path) -> None:
    (empty,) = loader.load(tmp_path).problems
    assert empty.severity is Severity.WARNING  # valid input: the prune guard keeps an empty tree safe
    assert empty.message.startswith("no manifests found")
    missing = only_error(loader.load(tmp_path / "nope"))
    assert missing.message == "manifest directory does not exist"


def test_non_utf8_file(tmp_path: Path) -> None:
    problem = only_error(load(tmp_path, {"a.yaml": b"kind: x\n\xff\xfe\n"}))
    assert problem.message == "not UTF-8: byte 0xff at offset 8"
    assert problem.line == 2


def test_file_over_the_size_cap(tmp_path: Path) -> None:
    write_tree(tmp_path, {"big.yaml": "# " + "x" * 2000 + "\n"})
    problem = only_error(loader.load(tmp_path, max_file_bytes=1000))
    assert "over the 1000-byte limit" in problem.message


def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    problem = only_error(load(tmp_path, {"bomb.yaml": ALIAS_BOMB}))
    assert problem.message == "document expands through aliases to more values than the limit of 100000"


def test_deep_nesting_is_refused_before_the_parser_recurses(tmp_path: Path) -> None:
    problem = only_error(load(tmp_path, {"deep.yaml": "[" * 200_000 + "]" * 200_000}))
    assert "nests deeper than 64 levels" in problem.message


def test_unsafe_yaml_tags_are_refused(tmp_path: Path) -> None:
    problem = only_error(load(tmp_path, {"evil.yaml": "!!python/object/apply:os.system ['true']\n"}))
    assert "invalid YAML" in problem.message


def test_hidden_files_and_other_suffixes_are_skipped(tmp_path: Path) -> None:
    result = load(tmp_path, {".hidden.yaml": "{", ".git/x.yaml": "{", "README.md": "{", "a.yml": [gateway()]})
    assert result.problems == []
    assert len(result.state.resources) == 1


def test_symlinks_are_followed_like_a_configmap_volume(tmp_path: Path) -> None:
    data = write_tree(tmp_path / "..2026_11_22", {"gw.yaml": [gateway()]})
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "gw.yaml").symlink_to("..data/gw.yaml")
    result = loader.load(tmp_path)
    assert result.problems == []
    assert list(result.state.resources) == [Key.gateway_key(Scope("apps"), "gw")]


def test_symlinked_directory_is_followed_and_a_file_reached_twice_counts_once(tmp_path: Path) -> None:
    write_tree(tmp_path / "tree" / "real", {"gw.yaml": [gateway()]})
    (tmp_path / "tree" / "link").symlink_to(tmp_path / "tree" / "real")
    (tmp_path / "tree" / "again").symlink_to("real")
    result = loader.load(tmp_path / "tree")
    assert result.problems == []
    assert len(result.state.resources) == 1


def test_symlink_loop_is_reported_not_followed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"gw.yaml": [gateway()]})
    (tmp_path / "loop").symlink_to(tmp_path)
    os.symlink("self.yaml", tmp_path / "self.yaml")
    os.symlink("missing.yaml", tmp_path / "dangling.yaml")
    result = loader.load(tmp_path)
    found = sorted((Path(p.file).name, p.message) for p in errors(result.problems))
    assert found == [
        ("dangling.yaml", "broken symlink: its target does not exist"),
        ("loop", "symlink loop: this directory leads back to one of its parents"),
        ("self.yaml", "cannot read: Too many levels of symbolic links"),
    ]


def test_route_without_its_gateway_is_a_warning(tmp_path: Path) -> None:
    result = load(tmp_path, {"r.yaml": [route()]})
    assert result.ok
    (problem,) = result.problems
    assert problem.severity is Severity.WARNING
    assert problem.path == "metadata.virtualGateway"


def test_trailing_document_separator_and_comment_documents_are_ignored(tmp_path: Path) -> None:
    text = "# header only\n---\n" + yaml.safe_dump(gateway()) + "---\n# nothing here\n"
    result = load(tmp_path, {"a.yaml": text})
    assert result.problems == []
    assert len(result.state.resources) == 1


def test_a_symlink_maze_walks_each_real_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels = 24
    maze = tmp_path / "root" / "maze"
    for i in range(levels):
        (maze / f"l{i}").mkdir(parents=True)
    for i in range(levels - 1):
        for name in ("a", "b"):  # two links to the next level: 2**23 paths to the last one
            (maze / f"l{i}" / name).symlink_to(f"../l{i + 1}")
    write_tree(maze / f"l{levels - 1}", {"gw.yaml": [gateway()]})
    (tmp_path / "root" / "start").symlink_to("maze/l0")
    walked: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: Any) -> Any:
        walked.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(loader.os, "scandir", counting_scandir)
    result = loader.load(tmp_path / "root")
    assert result.ok
    assert len(result.state.resources) == 1
    assert len(walked) == levels + 2  # the root, the maze and each level, once


def test_an_unreadable_directory_is_a_located_error() -> None:
    unreadable = Path("/proc/1/fdinfo")
    try:
        os.listdir(unreadable)
        pytest.skip("this machine lets the tests read /proc/1/fdinfo")
    except PermissionError:
        pass
    problem = only_error(loader.load(unreadable))
    assert problem.file == str(unreadable)
    assert problem.message == "cannot read directory: Permission denied"


def test_the_tree_is_bounded_in_files_bytes_and_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {f"r{i}.yaml": [route(f"r{i}"), route(f"s{i}")] for i in range(4)})
    monkeypatch.setattr(loader, "MAX_FILES", 3)
    assert "more than 3 manifest files" in only_error(loader.load(tmp_path)).message
    monkeypatch.setattr(loader, "MAX_FILES", 100)
    monkeypatch.setattr(loader, "MAX_DOCUMENTS", 5)
    problems = errors(loader.load(tmp_path).problems)
    assert problems
    assert all("more than 5 documents" in p.message for p in problems)
    monkeypatch.setattr(loader, "MAX_DOCUMENTS", 100)
    monkeypatch.setattr(loader, "MAX_TREE_BYTES", 500)
    assert "exceed 500 bytes in all" in only_error(loader.load(tmp_path)).message


def test_overlapping_gc_pauses_reenable_collection_only_when_the_last_ends() -> None:
    assert gc.isenabled()
    with paused_gc():
        with paused_gc():  # a load and an apply overlapping in two threads
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
