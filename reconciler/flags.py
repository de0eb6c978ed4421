"""The command line's flags: each group gathered into one typed object before a command runs.

``option_group`` declares a group's click options and hands the command one object
built from them (``AwsOptions``, ``LogOptions``, ``Overrides``; the daemon's own groups
are in ``daemon/flags.py``), so every flag has one typed home that ``mypy --strict``
checks, and ``cli.py`` holds the commands. Defaults shown in ``--help`` are read from
those types, never written twice.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from . import model
from . import settings as settings_
from .options import AwsOptions, Connection, LogFormat, LogOptions
from .resources import Scope
from .settings import Overrides
from .throttle import Limits, RetryPolicy

F = TypeVar("F", bound=Callable[..., Any])

manifests_option = click.option(
    "-f",
    "--manifests",
    "manifests",
    type=click.Path(path_type=Path),
    default=Path("manifests"),
    envvar="RECONCILE_MANIFESTS",
    show_default=True,
    show_envvar=True,
    help="Directory (or file) of manifests, read recursively.",
)


def option_group(
    keyword: str, build: Callable[..., object], *options: Callable[[Any], Any]
) -> Callable[[F], F]:
    """Declare a group of flags; the command gets one typed object, ``build(**flags)``, as ``keyword``.

    When an outer group already built ``keyword``, ``build`` receives that object as its
    first argument and returns it completed (flags of one group need not be adjacent in
    ``--help``).
    """
    names = _param_names(options)

    def decorate(fn: F) -> F:
        """The command with the group's options, receiving the built object instead of the flags."""

        def command(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names}
            built = build(kwargs.pop(keyword), **given) if keyword in kwargs else build(**given)
            return fn(*args, **kwargs, **{keyword: built})

        functools.update_wrapper(command, fn, updated=())
        command.__click_params__ = list(getattr(fn, "__click_params__", []))  # type: ignore[attr-defined]
        for option in reversed(options):
            command = option(command)
        return cast(F, command)

    return decorate


def _param_names(options: tuple[Callable[[Any], Any], ...]) -> list[str]:
    """The keyword each option hands its command, read off click's own declarations."""

    def probe() -> None: ...

    for option in options:
        option(probe)
    return [str(param.name) for param in getattr(probe, "__click_params__", [])]


def _output_dir(*, output_dir: Path | None, legacy_output_dir: Path | None) -> Path:
    """``-d/--output-dir``; ``-o DIR`` is still accepted here, with a warning, for old scripts."""
    if output_dir is not None and legacy_output_dir is not None:
        raise click.UsageError("give the directory once: -d/--output-dir (-o DIR is its old spelling)")
    if legacy_output_dir is not None:
        click.echo(
            "warning: -o DIR is deprecated for the output directory; use -d/--output-dir "
            "(-o is the output format in every other command)",
            err=True,
        )
        return legacy_output_dir
    if output_dir is None:
        raise click.UsageError("Missing option '-d' / '--output-dir'.")
    return output_dir


output_dir_option = option_group(
    "output_dir",
    _output_dir,
    click.option(
        "-d", "--output-dir", type=click.Path(path_type=Path), help="Directory to write (required)."
    ),
    click.option("-o", "legacy_output_dir", type=click.Path(path_type=Path), hidden=True),
)
"""export's and convert's directory: ``-o`` is the output format everywhere else."""


def parse_address(_: Any, __: Any, value: str) -> str:
    """HOST:PORT (HOST may be empty, or [IPv6]): refused here rather than as a traceback at bind time."""
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535 or any(c.isspace() for c in host):
        raise click.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:0")
    return value


def output_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--output", "-o", "output", type=click.Choice(choices), default=choices[0], show_default=True
    )


def _parse_scopes(_: Any, __: Any, values: tuple[str, ...]) -> frozenset[Scope] | None:
    try:
        return frozenset(settings_.parse_scope(value) for value in values) if values else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _parse_owner(_: Any, __: Any, value: str | None) -> str | None:
    if value is None and os.environ.get("RECONCILE_OWNER") == "":  # click reads an empty one as unset
        raise click.BadParameter("RECONCILE_OWNER is set but empty: the owner would not be pinned")
    if value is not None and not re.fullmatch(settings_.OWNER_PATTERN, value):
        raise click.BadParameter(f"{value!r}: 1-256 of letters, digits and _.:/=+-@ (an unset variable?)")
    return value


def _parse_duration(_: Any, __: Any, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = None
    try:
        return settings_.parse_duration(value if number is None else number)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


class FiniteRange(click.FloatRange):
    """A FloatRange that refuses nan and the infinities (``nan < 0`` is false: a bound alone lets it in)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def tuning(
    flag: str, kind: click.IntRange | click.FloatRange, default: float, help_: str, name: str | None = None
) -> Callable[[F], F]:
    """A numeric option whose default is the one the code uses (never written twice)."""
    names = (flag, name) if name else (flag,)
    return click.option(*names, type=kind, default=default, show_default=True, help=help_)


_LIMITS, _RETRY, _DEFAULTS = Limits(), RetryPolicy(), settings_.Settings()

plan_meaning_options = option_group(
    "overrides",
    Overrides,
    click.option(
        "--owner",
        envvar="RECONCILE_OWNER",
        show_envvar=True,
        callback=_parse_owner,
        help=f"Pin the owner: the value of the {model.OWNER_TAG} tag that marks the resources "
        "this instance may touch. A tree whose settings name another owner is an error. "
        f"Without it: setting owner (default {_DEFAULTS.owner!r}).",
    ),
    click.option(
        "--prune/--no-prune",
        default=None,
        help="Delete owned resources that are absent from the manifests. Setting: prune.",
    ),
    click.option(
        "--allow-empty/--no-allow-empty",
        default=None,
        help="Let an empty manifest set (for a mesh) prune. Setting: allowEmpty.",
    ),
    click.option(
        "--suspend/--no-suspend",
        default=None,
        help="Plan and report drift but write nothing. Setting: suspend.",
    ),
    click.option(
        "--max-deletes",
        type=click.IntRange(0),
        help=f"Refuse to prune more than this many resources in one run. Setting: maxDeletes "
        f"(default {_DEFAULTS.max_deletes}).",
    ),
    click.option(
        "--mesh",
        "meshes",
        multiple=True,
        callback=_parse_scopes,
        metavar="MESH[@OWNER]",
        help="Manage exactly these meshes (repeatable); others are never read or written. "
        "Setting: meshes (default: the meshes the manifests name).",
    ),
)
"""Flags that override the tree's kind: Settings for one run (PRODUCT.md §6); --owner pins instead."""


def _with_timing(overrides: Overrides, resync_interval: float | None, debounce: float | None) -> Overrides:
    return replace(overrides, resync_interval=resync_interval, debounce=debounce)


watch_timing_options = option_group(
    "overrides",
    _with_timing,
    click.option(
        "--resync-interval",
        callback=_parse_duration,
        help=f"--watch: period of the full rescan that also puts back drift (90, 90s, 5m). "
        f"Setting: resyncInterval (default {_DEFAULTS.resync_interval:g}s).",
    ),
    click.option(
        "--debounce",
        callback=_parse_duration,
        help=f"--watch: quiet after a file event before reconciling. Setting: debounce "
        f"(default {_DEFAULTS.debounce:g}s).",
    ),
)
"""The daemon's two plan-meaning flags, completing ``plan_meaning_options``' overrides."""

detailed_exitcode_option = click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when the plan (a dry run, or a diff) has changes."
)


def _aws(
    *,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    concurrency: int,
    read_rate: float,
    write_rate: float,
    max_attempts: int,
    retry_budget: float,
) -> AwsOptions:
    return AwsOptions(
        connection=Connection(region, profile, endpoint_url),
        limits=Limits(read_rate, write_rate, concurrency),
        retry=RetryPolicy(max_attempts=max_attempts, run_budget=retry_budget),
    )


aws_options = option_group(
    "aws",
    _aws,
    click.option("--region", envvar="AWS_REGION", help="AWS region (default: the AWS chain's)."),
    click.option("--profile", envvar="AWS_PROFILE", help="AWS shared-config profile."),
    click.option("--endpoint-url", help="Any App Mesh-compatible endpoint, e.g. the sandbox's."),
    tuning("--concurrency", click.IntRange(1, 64), _LIMITS.concurrency, "API calls in flight at once."),
    tuning(
        "--read-rate",
        FiniteRange(min=0.1),
        _LIMITS.read_rate,
        "Client-side limit on read calls per second.",
    ),
    tuning(
        "--write-rate",
        FiniteRange(min=0.1),
        _LIMITS.write_rate,
        "Starting and highest write calls per second (backs off on 429).",
    ),
    tuning(
        "--max-attempts",
        click.IntRange(1, 50),
        _RETRY.max_attempts,
        "Attempts per API call on throttling, 5xx and dropped connections.",
    ),
    tuning(
        "--retry-budget",
        FiniteRange(min=1),
        _RETRY.run_budget,
        "Seconds one run may spend retrying before giving up.",
    ),
)
"""Where and how to reach App Mesh; credentials come from the standard AWS chain only."""


def _log(*, level: str | None, format: str) -> LogOptions:
    return LogOptions(level=level, format=LogFormat(format))


log_options = option_group(
    "log",
    _log,
    click.option(
        "--log-level",
        "level",
        type=click.Choice(["debug", "info", "warning", "error"]),
        help="Default: info with --watch, warning otherwise.",
    ),
    click.option(
        "--log-format",
        "format",
        type=click.Choice([f.value for f in LogFormat]),
        default=LogFormat.AUTO.value,
        show_default=True,
        help="auto: console on a TTY, JSON lines otherwise.",
    ),
)
