"""Work bounded by input, not by luck: every path through the loader holds the tree's bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from reconciler import loader, yamlload
from reconciler.problems import Severity, errors

from .helpers import gateway, reconcile, route, write_tree

HEAD = (
    "apiVersion: appmesh.reconciler/v1\nkind: VirtualGateway\nmetadata: {name: gw, mesh: apps}\n"
    "spec:\n  listeners: [{portMapping: {port: 80, protocol: http2}}]\n"
)


def _unknown_keys(count: int) -> str:
    """One gateway whose spec holds ``count`` unknown keys, key i on line 6 + i."""
    return HEAD + "".join(f"  unknownKey{i:05}: 1\n" for i in range(count))


def test_one_document_with_49000_unknown_keys_is_capped_counted_and_located(tmp_path: Path) -> None:
    write_tree(tmp_path, {"keys.yaml": _unknown_keys(49_000)})
    problems = loader.load(tmp_path).problems
    *shown, summary = problems
    assert len(shown) == loader.MAX_PROBLEMS
    for i, problem in enumerate(shown):
        assert (problem.line, problem.path) == (6 + i, f"spec.unknownKey{i:05}")
    assert summary.severity is Severity.ERROR
    assert summary.message == (
        f"{49_000 - loader.MAX_PROBLEMS} more problem(s) not shown ({49_000 - loader.MAX_PROBLEMS} "
        f"error(s)): at most {loader.MAX_PROBLEMS} are shown per run"
    )


def test_identical_files_count_against_the_problem_bound(tmp_path: Path) -> None:
    bad = [{**gateway(f"g{i}"), "extra": i} for i in range(200)]  # one error per document
    text = yaml.safe_dump_all(bad)
    write_tree(tmp_path, {f"f{n:02}.yaml": text for n in range(16)})
    problems = loader.load(tmp_path).problems
    assert len(problems) == loader.MAX_PROBLEMS + 1
    assert problems[-1].message.startswith(f"{16 * 200 - loader.MAX_PROBLEMS} more problem(s) not shown")


def test_identical_valid_files_report_their_duplicates_within_the_bound(tmp_path: Path) -> None:
    text = yaml.safe_dump_all([gateway(), *(route(f"r{i}") for i in range(300))])
    write_tree(tmp_path, {f"f{n:02}.yaml": text for n in range(16)})
    result = loader.load(tmp_path)
    assert len(result.problems) == loader.MAX_PROBLEMS + 1
    assert not result.ok
    assert "defined twice" in result.problems[0].message
    assert result.problems[-1].message.startswith(f"{15 * 301 - loader.MAX_PROBLEMS} more problem(s)")


def test_warnings_past_the_bound_are_counted_as_warnings(tmp_path: Path) -> None:
    orphans = [route(f"r{i}", gateway="elsewhere") for i in range(loader.MAX_PROBLEMS + 5)]
    result = loader.load(write_tree(tmp_path, {"r.yaml": orphans}))
    assert result.ok
    assert result.problems[-1].severity is Severity.WARNING
    assert result.problems[-1].message.startswith("5 more problem(s) not shown (5 warning(s))")


def test_validate_prints_the_capped_list_and_exits_1(tmp_path: Path) -> None:
    write_tree(tmp_path, {"keys.yaml": _unknown_keys(loader.MAX_PROBLEMS + 7)})
    done = reconcile("validate", "-f", str(tmp_path))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == loader.MAX_PROBLEMS + 1
    assert "7 more problem(s) not shown" in lines[-1]


def test_identical_files_count_against_the_document_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = yaml.safe_dump_all([route(f"r{i}") for i in range(10)])
    write_tree(tmp_path, {f"f{n}.yaml": text for n in range(4)})
    monkeypatch.setattr(loader, "MAX_DOCUMENTS", 25)
    found = errors(loader.load(tmp_path).problems)
    assert any("more than 25 documents" in p.message for p in found)


def test_the_tree_limit_is_shown_first_even_past_the_problem_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = yaml.safe_dump_all([{**gateway(f"g{i}"), "extra": i} for i in range(10)])  # an error each
    write_tree(tmp_path, {f"f{n}.yaml": bad for n in range(4)})
    monkeypatch.setattr(loader, "MAX_DOCUMENTS", 25)
    monkeypatch.setattr(loader, "MAX_PROBLEMS", 5)
    problems = loader.load(tmp_path).problems
    assert problems[0].message == "the tree holds more than 25 documents, the limit"
    assert problems[0].file == str(tmp_path)


def test_a_syntax_error_after_an_invalid_document_is_located_not_a_crash(tmp_path: Path) -> None:
    broken = HEAD + "  listenrs: []\n---\nkind: [\n"
    problems = loader.load(write_tree(tmp_path, {"a.yaml": broken})).problems
    assert [(p.document, p.line, p.path) for p in problems] == [(1, 6, "spec.listenrs"), (2, 9, "")]
    assert problems[1].message.startswith("invalid YAML")


@pytest.mark.parametrize(
    "text",
    [
        "a: &x k\nk: 1\n*x : 2\n",  # the alias after the key it repeats
        "a: &x k\n*x : 2\nk: 1\n",  # before it
        "? &x k\n: 1\n*x : 2\n",  # the anchor on the key itself
    ],
)
def test_an_alias_used_as_a_key_goes_through_the_duplicate_check(text: str) -> None:
    with pytest.raises(yamlload.Refused, match="duplicate key 'k'") as refused:
        list(yamlload.documents(text, max_depth=64, max_nodes=1000, on_document=lambda: None))
    assert refused.value.line == 3


def test_an_alias_as_a_value_or_a_distinct_key_is_fine() -> None:
    text = "a: &x k\nb: *x\n*x : 3\n"
    found = list(yamlload.documents(text, max_depth=64, max_nodes=1000, on_document=lambda: None))
    assert found == [(1, {"a": "k", "b": "k", "k": 3})]


def test_symlinks_leaving_the_manifest_root_are_refused(tmp_path: Path) -> None:
    write_tree(tmp_path / "outside", {"secret.yaml": [gateway("stolen")]})
    root = write_tree(tmp_path / "repo" / "manifests", {"gw.yaml": [gateway()]})
    (root / "file.yaml").symlink_to(tmp_path / "outside" / "secret.yaml")
    (root / "dir").symlink_to("../../outside")
    (root / "etc").symlink_to("/etc")
    result = loader.load(root)
    assert sorted((Path(p.file).name, p.message) for p in result.problems) == [
        (name, "symlink leads outside the manifest directory; not read")
        for name in ("dir", "etc", "file.yaml")
    ]
    assert [key.name for key in result.state.resources] == ["gw"]


def test_links_inside_the_root_and_a_linked_root_are_followed(tmp_path: Path) -> None:
    """git-sync publishes the root through a link; a ConfigMap volume links each file into ..data."""
    worktree = write_tree(tmp_path / "git" / ".worktrees" / "abc" / "manifests", {})
    write_tree(worktree / "..2026_01_01", {"gw.yaml": [gateway()], "sub/rt.yaml": [route()]})
    (worktree / "..data").symlink_to("..2026_01_01")
    (worktree / "gw.yaml").symlink_to("..data/gw.yaml")
    (worktree / "sub").symlink_to("..data/sub")
    (tmp_path / "git" / "current").symlink_to(".worktrees/abc")
    result = loader.load(tmp_path / "git" / "current" / "manifests")
    assert result.problems == []
    assert sorted(key.name for key in result.state.resources) == ["gw", "rt"]
    assert os.path.realpath(tmp_path / "git" / "current" / "manifests") == str(worktree)
