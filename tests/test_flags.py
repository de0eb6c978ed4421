"""Flags are input too: numbers are finite, names are checked before anything is made, usage errors exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import files, settings
from reconciler.cli import main

from .helpers import ROOT, reconcile

NUMERIC_FLAGS = (
    "--read-rate",
    "--write-rate",
    "--retry-budget",
    "--grace-period",
    "--confirm-deletes-after",
    "--stuck-after",
    "--lease-duration",
    "--lease-renew-deadline",
    "--lease-retry-period",
    "--resync-interval",
    "--debounce",
)


def _exit(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(main, list(args))
    return done.exit_code, done.output


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", "infinity"])
@pytest.mark.parametrize("flag", NUMERIC_FLAGS)
def test_numbers_and_durations_refuse_nan_and_infinities(flag: str, value: str) -> None:
    code, output = _exit("--dry-run", "--detailed-exitcode", flag, value, "-f", str(ROOT / "manifests"))
    assert code == 1, output
    assert f"Invalid value for '{flag}'" in output


def test_a_settings_duration_refuses_nan_and_infinities() -> None:
    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError, match="finite"):
            settings.parse_duration(value)
    assert settings.parse_duration(90) == 90.0


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["validate", "--bogus"],
        ["no-such-command"],
        ["--max-deletes", "-1"],
        ["--output", "yaml"],
        ["--watch", "--dry-run"],  # a UsageError raised by the command itself
        ["convert", "--to", "gateway-api"],  # a missing required option of a subcommand
    ],
)
def test_every_usage_error_exits_1_never_2(args: list[str]) -> None:
    code, output = _exit(*args)
    assert code == 1, output
    assert "Error:" in output


def test_a_usage_error_keeps_clicks_words_and_exits_1_as_installed() -> None:
    done = reconcile("validate", "--stritc")
    assert done.returncode == 1
    assert "No such option '--stritc'. Did you mean '--strict'?" in done.stderr
    assert "Usage: reconcile validate" in done.stderr
    assert reconcile("--help").returncode == 0


@pytest.mark.parametrize("namespace", ["../../escape", "Upper", "a.b", "-lead", "x" * 64, ""])
def test_convert_namespace_is_checked_before_anything_is_created(tmp_path: Path, namespace: str) -> None:
    out = tmp_path / "work" / "out"
    code, output = _exit(
        "convert", "--to", "gateway-api", "-o", str(out), "--gateway-class", "c",
        "--namespace", namespace, "--no-crds-check", "-f", str(ROOT / "manifests"),
    )  # fmt: skip
    assert code == 1, output
    assert "Invalid value for '--namespace'" in output
    assert not (tmp_path / "work").exists()
    assert list(tmp_path.iterdir()) == []


def test_convert_with_a_valid_namespace_writes_into_it(tmp_path: Path) -> None:
    code, output = _exit(
        "convert", "--to", "gateway-api", "-o", str(tmp_path / "out"), "--gateway-class", "c",
        "--namespace", "edge", "--no-crds-check", "-f", str(ROOT / "manifests"),
    )  # fmt: skip
    assert code == 0, output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"edge"}


def test_the_writer_refuses_a_missing_parent_that_climbs_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(files.WriteRefused, match="outside"):
        files.write_files({out / ".." / "escaped" / "x.yaml": [{"a": 1}]}, out, "")
    assert list(tmp_path.iterdir()) == []
