"""The one-pass YAML reader builds exactly what PyYAML's SafeLoader builds, and parses once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler import loader, yamlload

from .helpers import ROOT, gateway, reconcile, route, write_tree

YAML_FILES = sorted(
    p
    for folder in ("manifests", "tests/corpus", "tests/bad_inputs", "tests/warn_inputs", "deploy")
    for p in (ROOT / folder).rglob("*.y*ml")
    if p.is_file() and p.stat().st_size < 200_000
)
GENERATED = """
plain: [1, -2, 0x1F, 0o17, 1_000, 1.5, .inf, -.Inf, .NaN, 6.8523e+5, yes, No, on, OFF, true, ~, null, ""]
quoted: ['1', "2", '', 'yes']
dates: [2001-12-14, 2001-12-14t21:59:43.10-05:00]
tagged: [!!str 12, !!int "7", !!float "1", !!bool "true", !!null ""]
anchors: {base: &b {a: 1, b: [x, y]}, again: *b, merged: {<<: *b, a: 2}}
many: {<<: [{k: 1, m: 1}, {k: 2, n: 2}], own: 3}
block: |
  line one
  line two
folded: >
  folded
  text
"""


def _ours(text: str) -> list[object]:
    found = yamlload.documents(text, max_depth=64, max_nodes=100_000, on_document=lambda: None)
    return [data for _, data in found]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_here_builds_as_pyyaml_builds_it(path: Path) -> None:
    text = path.read_text(errors="replace")
    try:
        expected = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except (yaml.YAMLError, ValueError):
        pytest.skip("PyYAML refuses it too; the bad-input corpus checks what we report")
    try:
        assert _ours(text) == expected
    except yamlload.Refused:
        assert "bad_inputs" in str(path)  # only a guard (duplicate key, depth, aliases) may refuse it


def test_yaml_1_1_scalars_tags_anchors_and_merges_build_alike() -> None:
    assert _ours(GENERATED) == list(yaml.load_all(GENERATED, Loader=yaml.CSafeLoader))


def test_a_generated_tree_loads_to_what_pyyaml_reads(tmp_path: Path) -> None:
    docs = [gateway(f"g{g}") for g in range(3)] + [route(f"r{i}", prefix=f"/{i}") for i in range(200)]
    write_tree(tmp_path, {"a.yaml": docs})
    result = loader.load(tmp_path)
    assert result.ok
    expected = list(yaml.load_all((tmp_path / "a.yaml").read_text(), Loader=yaml.CSafeLoader))
    assert _ours((tmp_path / "a.yaml").read_text()) == expected
    assert len(result.state.resources) == 203


def test_diff_reads_a_file_identical_in_both_trees_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_tree(tmp_path / "base", {"a.yaml": [gateway()], "b.yaml": [route("b")]})
    head = write_tree(tmp_path / "head", {"a.yaml": [gateway()], "b.yaml": [route("b", prefix="/new")]})
    parsed: list[str] = []
    real = loader._read_file

    def counting(raw: bytes, path: Path, budget: object) -> object:
        parsed.append(path.name)
        return real(raw, path, budget)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "_read_file", counting)
    cache = loader.Cache()
    first, second = loader.load(base, cache=cache), loader.load(head, cache=cache)
    assert sorted(parsed) == ["a.yaml", "b.yaml", "b.yaml"]
    assert {d.source.file for d in second.state.resources.values()} == {
        str(head / "a.yaml"),
        str(head / "b.yaml"),
    }
    assert first.ok
    assert second.ok


def test_offline_commands_import_neither_the_aws_sdk_nor_the_daemon() -> None:
    script = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "try:\n    main(['validate', '-f', 'manifests'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('boto3', 'botocore', 'watchdog', 'prometheus_client', 'rich')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert reconcile("validate", "-f", "manifests").returncode == 0
