"""The bad-input corpus: every case fails with its expected file, field and message, and changes nothing.

Each case in tests/bad_inputs/ is a file (or a directory, for cases that need several
files) with ``<case>.expected.json`` beside it: the file and field path the error must
name, and a phrase of its message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox

from .helpers import reconcile

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = sorted(CORPUS.glob("*.expected.json"))


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60


def _expected(path: Path) -> dict[str, Any]:
    expected: dict[str, Any] = json.loads(path.read_text())
    return expected


def _assert_reported(stderr: str, case: Path, expected: dict[str, Any]) -> None:
    file = str(case / expected["file"]) if case.is_dir() else str(case)
    lines = [line for line in stderr.splitlines() if line.startswith("error: ") and file in line]
    path = f": {expected['path']}: " if expected["path"] else ""
    matching = [line for line in lines if path in line and expected["message"] in line]
    assert matching, f"expected {expected} in:\n{stderr}"


@pytest.mark.parametrize("expected_file", CASES, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_bad_input_is_reported_and_changes_nothing(expected_file: Path, sandbox: Sandbox) -> None:
    expected = _expected(expected_file)
    case = CORPUS / expected["case"]
    validate = reconcile("validate", "-f", str(case))
    assert validate.returncode == 1
    _assert_reported(validate.stderr, case, expected)

    dry_run = reconcile("--dry-run", "--prune", "-f", str(case), endpoint=sandbox.endpoint)
    assert dry_run.returncode == 1
    _assert_reported(dry_run.stderr, case, expected)
    assert sandbox.stats.operations() == {}  # not even a read: invalid manifests stop everything
