"""The ``reconcile`` command line (PRODUCT.md §2). Click handles parsing and help."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import loader, model
from .problems import Problem, Severity, errors

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
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


def _output_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--output", "-o", "output", type=click.Choice(choices), default=choices[0], show_default=True
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="appmesh-gateway-reconciler")
def main() -> None:
    """Reconcile App Mesh virtual gateways and gateway routes with manifests."""


@main.command()
@manifests_option
@_output_option("text", "json")
def validate(manifests: Path, output: str) -> None:
    """Check manifests offline (no AWS call); exit 1 if any problem is an error."""
    result = loader.load(manifests)
    if output == "json":
        click.echo(json.dumps(_problems_document(result.problems), indent=2))
    else:
        _echo_problems(result.problems)
        count = len(result.state.resources)
        if result.ok:
            click.echo(f"{count} resource(s) valid in {manifests}.")
    sys.exit(EXIT_OK if result.ok else EXIT_ERROR)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the manifest format (for yaml-language-server)."""
    click.echo(json.dumps(model.manifest_schema(), indent=2, sort_keys=True))


def _problems_document(problems: list[Problem]) -> dict[str, Any]:
    return {
        "format_version": 1,
        "valid": not errors(problems),
        "problems": [p.as_dict() for p in problems],
    }


def _echo_problems(problems: list[Problem]) -> None:
    for problem in problems:
        colour = "red" if problem.severity is Severity.ERROR else "yellow"
        click.echo(click.style(str(problem), fg=colour), err=True)
    found = errors(problems)
    if found:
        click.echo(f"{len(found)} error(s); nothing was changed.", err=True)
