"""The ``reconcile`` command line (PRODUCT.md §2). Click handles parsing and help.

The commands. Each group of flags (``flags.py``) reaches a command as one typed
object; what the daemon's options become is the daemon's own composition root
(``daemon/app.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from . import loader, model, render
from . import settings as settings_
from .daemon.flags import daemon_options, lease_options, notify_options
from .daemon.options import DaemonOptions, LeaseConfig, NotifyOptions
from .errors import ApiError
from .flags import (
    aws_options,
    detailed_exitcode_option,
    log_options,
    manifests_option,
    output_dir_option,
    output_option,
    plan_meaning_options,
    watch_timing_options,
)
from .options import AwsOptions, Connection, LogOptions
from .plan import Plan, make_plan, owned_tags
from .problems import Problem, Severity, errors, warnings
from .resources import DesiredState, Key, Live, Scope
from .settings import Overrides
from .shutdown import Shutdown
from .yamlload import Refused

if TYPE_CHECKING:
    from rich.progress import Progress

    from .appmesh_client import AppMesh, CallObserver
    from .convert.gatewayapi import Conversion, ConversionMap
    from .convert.targets import Profile
    from .engine import Reconciler
    from .outcomes import Report

# The AWS SDK and the daemon's stack (watchdog, prometheus_client, the Kubernetes
# client, rich) are imported by the commands that use them, so offline commands
# (validate, diff, schema) start without them; ``daemon.options`` is plain dataclasses.

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])
SANDBOX_REGION = "us-east-1"


def _parse_namespace(_: Any, __: Any, value: str | None) -> str | None:
    """``convert --namespace``: a DNS-1123 label, checked before anything is written or created."""
    from .convert import names

    if value is not None and not names.valid(value, names.Rule.LABEL):
        raise click.BadParameter(
            f"{value!r} is not a Kubernetes namespace (a DNS-1123 label, 1-63 of a-z0-9-)"
        )
    return value


class _Cli(click.Group):
    """Every usage error exits 1, as documented: click's 2 would read as "changes pending"
    to a job running with --detailed-exitcode."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        with _usage_errors_exit_1():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_errors_exit_1():
            return super().invoke(ctx)


class _UsageError(click.UsageError):
    exit_code = EXIT_ERROR


@contextlib.contextmanager
def _usage_errors_exit_1() -> Iterator[None]:
    try:
        yield
    except _UsageError:
        raise
    except click.UsageError as exc:  # the same words (suggestions included) and usage line
        raise _UsageError(exc.format_message(), exc.ctx) from None


@click.group(
    cls=_Cli,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 success and nothing left to do; 2 with --detailed-exitcode when a "
    "dry-run plan has changes; 1 any error.",
)
@click.version_option(package_name="appmesh-gateway-reconciler")
@manifests_option
@click.option("--dry-run", is_flag=True, help="Read live state and print the plan; change nothing.")
@click.option(
    "--base-manifests",
    type=click.Path(path_type=Path, exists=True),
    help="--dry-run of a pull request: the base branch's tree. A change of its settings is shown, "
    "a change of owner, meshes or prune first of all.",
)
@output_option("text", "json", "markdown")
@plan_meaning_options
@detailed_exitcode_option
@click.option(
    "--watch", is_flag=True, help="Run as a daemon: apply on every manifest change and on a resync."
)
@watch_timing_options
@daemon_options
@notify_options
@lease_options
@aws_options
@log_options
@click.pass_context
def main(
    ctx: click.Context,
    /,
    *,
    manifests: Path,
    dry_run: bool,
    base_manifests: Path | None,
    output: str,
    detailed_exitcode: bool,
    watch: bool,
    overrides: Overrides,
    daemon: DaemonOptions,
    notify: NotifyOptions,
    lease: LeaseConfig | None,
    aws: AwsOptions,
    log: LogOptions,
) -> None:
    """Reconcile App Mesh virtual gateways and gateway routes with manifests.

    Without a command: plan, then apply once (or only print the plan with --dry-run).
    """
    if ctx.invoked_subcommand is not None:
        _hand_down(ctx, ctx.invoked_subcommand)
        return
    if watch and dry_run:
        raise click.UsageError("--watch applies changes; use --dry-run without --watch")
    if base_manifests is not None and not dry_run:
        raise click.UsageError("--base-manifests is for a preview: use it with --dry-run")
    _configure_logs(log, "info" if watch else "warning")
    if not watch:
        sys.exit(
            _reconcile_once(
                manifests,
                overrides,
                aws,
                output=output,
                dry_run=dry_run,
                detailed=detailed_exitcode,
                base=base_manifests,
            )
        )
    from .daemon import app
    from .daemon.metrics import AddressUnavailable

    try:
        sys.exit(app.run(manifests, overrides, aws=aws, options=daemon, lease=lease, notify=notify))
    except ApiError as exc:
        sys.exit(_api_error(exc))
    except AddressUnavailable as exc:
        click.echo(click.style(f"error: {exc}", fg="red"), err=True)
        sys.exit(EXIT_ERROR)


HANDED_DOWN = ("manifests", "output")  # before a command, these mean what they mean after it


def _hand_down(ctx: click.Context, name: str) -> None:
    """Options given before a command: passed to it when it has them, else refused (never ignored).

    ``reconcile -f DIR validate`` validates DIR; ``reconcile --dry-run validate`` is an error
    naming the option, rather than a run that silently did something else.
    """
    command = ctx.command.get_command(ctx, name) if isinstance(ctx.command, click.Group) else None
    own = {param.name for param in command.params} if command is not None else set()
    given = [
        param
        for param in ctx.command.params
        if param.name and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    ]
    refused = [p.opts[0] for p in given if p.name not in HANDED_DOWN or p.name not in own]
    if refused:
        raise click.UsageError(
            f"{', '.join(refused)} given before '{name}', which does not take it there; "
            f"put options after the command: reconcile {name} [OPTIONS]"
        )
    ctx.default_map = {name: {str(p.name): ctx.params[str(p.name)] for p in given}}


def _connect(aws: AwsOptions, shutdown: Shutdown, observe: CallObserver | None = None) -> AppMesh:
    from .appmesh_client import AppMesh

    return AppMesh.connect(
        aws.connection, limits=aws.limits, retry=aws.retry, shutdown=shutdown, observe=observe
    )


def _reconcile_once(
    manifests: Path,
    overrides: Overrides,
    aws: AwsOptions,
    *,
    output: str,
    dry_run: bool,
    detailed: bool,
    base: Path | None = None,
) -> int:
    """Plan, then apply unless this is a dry run; the exit status (PRODUCT.md §2)."""
    try:
        result = loader.load(manifests)
    except loader.SnapshotChanged as exc:
        click.echo(click.style(f"error: {exc}; nothing was changed", fg="red"), err=True)
        return EXIT_ERROR
    if not result.ok:
        _echo_problems(result.problems)
        return EXIT_ERROR
    from .engine import Reconciler

    base_settings = _tree_settings(base) if base is not None else None
    try:
        shutdown = Shutdown()  # a one-shot run stops on Ctrl-C by KeyboardInterrupt
        calls = CallCounter()
        reconciler = Reconciler(_connect(aws, shutdown, observe=calls), shutdown)
        settings = settings_.resolve(result.settings, overrides)
        plan = plan_with_progress(reconciler, calls, result.state, settings, warnings(result.problems))
        if base_settings is not None:
            plan.settings_changes = settings_.differences(base_settings, settings_.resolve(result.settings))
        if dry_run or plan.blocked or not plan.has_changes or settings.suspend:
            click.echo(_render(plan, output))
            if settings.suspend and not dry_run and output == "text":
                click.echo(f"Suspended ({settings.origin('suspend')}): nothing was applied.")
            return _plan_exit_code(plan, detailed)
        if output == "text":
            click.echo(_render(plan, output))
        report = apply_with_progress(reconciler, plan)
    except ApiError as exc:
        return _api_error(exc)
    if output == "json":
        click.echo(render.apply_json(plan, report))
    else:
        click.echo(render.report_text(report))
    return EXIT_OK if report.ok else EXIT_ERROR


@main.command()
@click.argument("base", type=click.Path(path_type=Path, exists=True))
@click.argument("head", type=click.Path(path_type=Path, exists=True))
@output_option("text", "json", "markdown")
@plan_meaning_options
@detailed_exitcode_option
def diff(*, base: Path, head: Path, output: str, detailed_exitcode: bool, overrides: Overrides) -> None:
    """Plan HEAD's manifests against BASE's, offline (no AWS call): a preview without credentials.

    BASE stands for what is live: every resource in it as applied under BASE's settings.
    HEAD's settings decide what the plan means (flags override them), exactly as they
    will once merged, and a change to them is shown in the plan.
    """
    loaded = {}
    cache = loader.Cache()  # a file byte-identical in both trees is parsed and validated once
    for name, tree in (("BASE", base), ("HEAD", head)):
        loaded[name] = loader.load(tree, cache=cache)
        if not loaded[name].ok:
            click.echo(f"{name} ({tree}) has invalid manifests:", err=True)
            _echo_problems(loaded[name].problems)
            sys.exit(EXIT_ERROR)
    before = settings_.resolve(loaded["BASE"].settings)
    after = settings_.resolve(loaded["HEAD"].settings, overrides)
    live = {
        key: Live(key, d.spec, f"manifest:{d.source}", 0, owned_tags(d.tags, before.owner))
        for key, d in loaded["BASE"].state.resources.items()
    }
    plan = make_plan(loaded["HEAD"].state, live, after, warnings(loaded["HEAD"].problems))
    plan.settings_changes = settings_.differences(before, settings_.resolve(loaded["HEAD"].settings))
    click.echo(_render(plan, output))
    sys.exit(_plan_exit_code(plan, detailed_exitcode))


@main.command()
@click.option("--mesh", required=True, help="Mesh to export.")
@click.option("--mesh-owner", default="", help="Account that owns a shared mesh (12 digits).")
@click.option("--virtual-gateway", "gateway", default="", help="Export only this gateway and its routes.")
@output_dir_option
@click.option("--force", is_flag=True, help="Replace files that already exist (never through a link).")
@manifests_option
@aws_options
@log_options
def export(
    *,
    mesh: str,
    mesh_owner: str,
    gateway: str,
    output_dir: Path,
    force: bool,
    manifests: Path,
    aws: AwsOptions,
    log: LogOptions,
) -> None:
    """Write live gateways and routes as manifests (to adopt existing resources, or to archive).

    A mesh outside the tree's settings ``meshes`` is refused: this instance never reads it.
    """
    _configure_logs(log, "warning")
    from . import export as exporter
    from . import files

    live, vanished = _read_mesh(Scope(mesh, mesh_owner), manifests, aws)
    if gateway:
        live = {k: v for k, v in live.items() if k.gateway == gateway}
    try:
        paths = exporter.write(live, output_dir, force=force)
    except files.WriteRefused as exc:
        click.echo(click.style(f"error: {render.clean(str(exc))}; nothing was written", fg="red"), err=True)
        sys.exit(EXIT_ERROR)
    for path in paths:
        click.echo(f"wrote {render.clean(str(path))}")
    check = loader.load(output_dir)
    _echo_problems(check.problems)
    click.echo(f"{len(live)} resource(s) from mesh {render.clean(mesh)} in {len(paths)} file(s).")
    sys.exit(EXIT_OK if check.ok and not vanished else EXIT_ERROR)


def _read_mesh(scope: Scope, manifests: Path, aws: AwsOptions) -> tuple[dict[Key, Live], list[str]]:
    """Every gateway and route of a mesh this instance manages, and what vanished while read."""
    settings = _tree_settings(manifests)
    if not settings.manages(scope):
        origin = settings.origin("meshes")
        raise click.UsageError(f"mesh {scope} is not among the meshes this instance manages ({origin})")
    from .live import LiveReader

    vanished: list[str] = []
    try:
        reader = LiveReader(_connect(aws, Shutdown()))
        live = reader.read({scope}, lambda _key: True, lambda key: vanished.append(str(key)))
    except ApiError as exc:
        sys.exit(_api_error(exc))
    for key in vanished:
        message = f"warning: {render.clean(key)} was listed but gone when described; not read"
        click.echo(click.style(message, fg="yellow"), err=True)
    return live, vanished


@main.command()
@click.option("--to", "target", type=click.Choice(["gateway-api"]), required=True, help="What to convert to.")
@output_dir_option
@click.option("--gateway-class", required=True, help="gatewayClassName of every Gateway written.")
@click.option(
    "--namespace",
    callback=_parse_namespace,
    help="Namespace of every object (default: one per mesh, named after it).",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="YAML: virtual services → Services (name, namespace, port); certificates → Secrets.",
)
@click.option(
    "--crds",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Check every object against these CustomResourceDefinitions before writing anything "
    "(default: the Gateway API v1.6.1 standard-channel CRDs shipped with this package).",
)
@click.option("--no-crds-check", is_flag=True, help="Write the objects without checking them against CRDs.")
@click.option("--mesh", help="Convert a live mesh instead of the manifests (read like `export`).")
@click.option("--mesh-owner", default="", help="Account that owns a shared mesh (12 digits).")
@click.option(
    "--target",
    "target_name",
    metavar="TARGET",
    default="standard",
    show_default=True,
    help="The Gateway API implementation that will run the output (see --list-targets): its refusals, "
    "no-ops and other readings are reported, and the output fitted where it needs.",
)
@click.option(
    "--list-targets",
    type=click.Choice(["text", "json"]),
    is_flag=False,
    flag_value="text",
    default=None,
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, _param, fmt: _list_targets(ctx, fmt),
    help="Print every target's claimed features and documented behaviours, with sources, and exit.",
)
@click.option("--report", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 on any loss, target finding, priority conflict or unexplained difference "
    "(files are written).",
)
@click.option("--force", is_flag=True, help="Replace files that already exist (never through a link).")
@manifests_option
@aws_options
@log_options
def convert(
    *,
    target: str,
    output_dir: Path,
    gateway_class: str,
    namespace: str | None,
    map_file: Path | None,
    crds: Path | None,
    no_crds_check: bool,
    mesh: str | None,
    mesh_owner: str,
    target_name: str,
    report: str,
    strict: bool,
    force: bool,
    manifests: Path,
    aws: AwsOptions,
    log: LogOptions,
) -> None:
    """Write the gateways and routes as Kubernetes Gateway API v1 objects, with a loss report.

    Every field Gateway API cannot express is reported with its path and what was
    written instead; routes whose App Mesh priority order Gateway API would not keep
    are reported in pairs. Nothing is written when the input or the check fails.
    """
    from . import files
    from .convert import gatewayapi, targets
    from .convert import report as reports

    assert target == "gateway-api"  # the only choice click accepts
    profile = _target_profile(target_name)
    _configure_logs(log, "warning")
    if crds and no_crds_check:
        raise click.UsageError("--crds and --no-crds-check contradict each other; give one")
    if mesh:
        live, _vanished = _read_mesh(Scope(mesh, mesh_owner), manifests, aws)
        specs = {key: resource.spec for key, resource in live.items()}
    else:
        specs = {key: desired.spec for key, desired in _load_or_exit(manifests).state.resources.items()}
    options = gatewayapi.Options(gateway_class, namespace, _conversion_map(map_file))
    try:
        converted = gatewayapi.convert(specs, options)
    except gatewayapi.ConversionError as exc:
        click.echo(click.style(f"error: {render.clean(str(exc))}; nothing was written", fg="red"), err=True)
        sys.exit(EXIT_ERROR)
    fitted = targets.fit(converted, specs, profile)
    conversion = fitted.conversion
    conflicts = list(fitted.conflicts)
    checked = fitted.routing(specs)
    conversion.findings.extend(checked.findings())
    if not no_crds_check:
        _check_against_crds(conversion, crds)
    try:
        paths = files.write_files(conversion.files(output_dir), output_dir, gatewayapi.HEADER, force=force)
    except files.WriteRefused as exc:
        click.echo(click.style(f"error: {render.clean(str(exc))}; nothing was written", fg="red"), err=True)
        sys.exit(EXIT_ERROR)
    written = [str(path) for path in paths]
    if report == "json":
        click.echo(reports.as_json(fitted, conflicts, written, checked))
    else:
        click.echo(reports.text(fitted, conflicts, written, checked))
    lossy = bool(fitted.behaviour_changes() or conflicts)
    sys.exit(EXIT_ERROR if strict and lossy else EXIT_OK)


def _target_profile(name: str) -> Profile:
    from .convert import targets

    if name not in targets.NAMES:
        raise click.BadParameter(f"{name!r} is none of {', '.join(targets.NAMES)}", param_hint="'--target'")
    return targets.profile(name)


def _list_targets(ctx: click.Context, fmt: str | None) -> None:
    """``--list-targets``: the profiles' table and sources, then exit before anything is required."""
    if fmt is None or ctx.resilient_parsing:
        return
    from .convert import report, targets

    profiles = targets.all_profiles()
    click.echo(report.targets_json(profiles) if fmt == "json" else report.targets_text(profiles))
    ctx.exit(EXIT_OK)


def _load_or_exit(tree: Path) -> loader.LoadResult:
    result = loader.load(tree)
    _echo_problems(result.problems)
    if not result.ok:
        sys.exit(EXIT_ERROR)
    return result


def _conversion_map(path: Path | None) -> ConversionMap:
    """The ``--map`` file, read with the manifests' guards and validated; exit 1 naming the field."""
    from pydantic import ValidationError

    from .convert import gatewayapi

    if path is None:
        return gatewayapi.ConversionMap()
    try:
        return gatewayapi.ConversionMap.model_validate(loader.read_single(path) or {})
    except Refused as exc:
        _echo_problems([Problem(str(exc), file=str(path), line=exc.line, path=exc.path)])
    except OSError as exc:
        _echo_problems([Problem(f"cannot read: {exc.strerror or exc}", file=str(path))])
    except ValidationError as exc:
        _echo_problems([Problem(e["msg"], file=str(path), path=model.dotted(e["loc"])) for e in exc.errors()])
    sys.exit(EXIT_ERROR)


def _check_against_crds(conversion: Conversion, crds: Path | None) -> None:
    """Exit 1, writing nothing, when an API server would refuse an object (``crds``: the bundled)."""
    from .convert import crdcheck

    try:
        schemas = crdcheck.Schemas.load(crds or crdcheck.BUNDLED)
    except crdcheck.CrdError as exc:
        raise click.UsageError(str(exc)) from None
    violations = schemas.check_all(obj.body for obj in conversion.objects)
    for violation in violations:
        click.echo(click.style(render.clean(f"error: {violation}"), fg="red"), err=True)
    if violations:
        click.echo(
            f"{len(violations)} object(s) would be refused by the API server; nothing was written.", err=True
        )
        sys.exit(EXIT_ERROR)


def _configure_logs(log: LogOptions, default_level: str) -> None:
    from . import logs  # structlog, only for commands that log

    logs.configure(log.level or default_level, log.format)


def _plan_exit_code(plan: Plan, detailed: bool) -> int:
    """PRODUCT.md §2: 1 for a plan with errors, 2 for changes with --detailed-exitcode, else 0."""
    if plan.blocked:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed and plan.has_changes else EXIT_OK


def _tree_settings(tree: Path) -> settings_.Settings:
    """The settings a tree declares, for commands that read no manifests otherwise."""
    if not tree.exists():
        return settings_.resolve(None)
    result = loader.load(tree)
    if not result.ok:
        _echo_problems(result.problems)
        sys.exit(EXIT_ERROR)
    return settings_.resolve(result.settings)


def _render(plan: Plan, output: str) -> str:
    if output == "json":
        return render.as_json(plan)
    if output == "markdown":
        return render.markdown(plan)
    return render.text(plan)


def apply_with_progress(reconciler: Reconciler, plan: Plan) -> Report:
    """Apply, with a progress bar on a terminal (rich), silently otherwise."""
    total = sum(1 for s in plan.steps if s.actions)
    if not sys.stderr.isatty() or total < 2:
        return reconciler.apply(plan)
    with _progress_bar() as progress:
        task = progress.add_task("Applying", total=total)
        return reconciler.apply(plan, lambda _: progress.advance(task))


class CallCounter:
    """Counts the API calls answered (an ``AppMesh`` observer), for calls per second."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, _operation: str, _status: int) -> None:
        self.calls += 1


def plan_with_progress(
    reconciler: Reconciler,
    calls: CallCounter,
    desired: DesiredState,
    settings: settings_.Settings,
    notes: list[Problem],
) -> Plan:
    """Read live state and plan, showing resources read of the total and calls per second on a terminal."""
    if not sys.stderr.isatty():
        return reconciler.plan(desired, settings, notes)
    with _progress_bar("{task.fields[rate]}") as progress:
        task = progress.add_task("Reading App Mesh", total=None, rate="")
        started = time.monotonic()

        def read(done: int, total: int) -> None:
            rate = calls.calls / max(time.monotonic() - started, 1e-3)
            progress.update(task, completed=done, total=total, rate=f"{rate:.0f} calls/s")

        return reconciler.plan(desired, settings, notes, on_progress=read)


def _progress_bar(*extra: str) -> Progress:
    """rich's bar on stderr, gone when done: the plan and the report are what stays."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    columns += [TextColumn(text) for text in extra]
    return Progress(*columns, console=Console(stderr=True), transient=True)


@main.command()
@manifests_option
@output_option("text", "json")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(manifests: Path, output: str, strict: bool) -> None:
    """Check manifests offline (no AWS call); exit 1 if any problem is an error."""
    result = loader.load(manifests)
    if strict:
        result.problems = [replace(p, severity=Severity.ERROR) for p in result.problems]
    if output == "json":
        click.echo(json.dumps(_problems_document(result.problems), indent=2))
    else:
        _echo_problems(result.problems)
        count = len(result.state.resources)
        if result.ok:
            click.echo(f"{count} resource(s) valid in {manifests}.")
    sys.exit(EXIT_OK if result.ok else EXIT_ERROR)


@main.command()
@manifests_option
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default: a free one)."
)
@click.option(
    "--realistic/--plain",
    default=True,
    show_default=True,
    help="Answer as the real App Mesh does where moto does not (error codes, clientToken, in-use).",
)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Keep the sandbox running after the demo, until Ctrl-C.",
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="Run plan → apply → plan again on the manifests; --no-demo only serves an empty App Mesh.",
)
def sandbox(manifests: Path, port: int, realistic: bool, serve: bool, demo: bool) -> None:
    """Run plan → apply → plan-again on a local App Mesh (moto on 127.0.0.1); no AWS account needed."""
    from .sandbox import Realism, Sandbox

    _configure_logs(LogOptions(), "warning")
    # The sandbox accepts any credentials; never send a user's real ones to it.
    os.environ.update(AWS_ACCESS_KEY_ID="sandbox", AWS_SECRET_ACCESS_KEY="sandbox")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    with Sandbox(Realism(real_errors=realistic), port=port) as box:
        click.echo(f"Sandbox App Mesh at {box.endpoint} (region {SANDBOX_REGION})", nl=not demo)
        converged = _sandbox_demo(box.endpoint, manifests) if demo else True
        if serve or not demo:
            click.echo(
                "\nThe sandbox keeps running; in another shell:\n"
                f"  AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox {_own_command()} --dry-run "
                f"--region {SANDBOX_REGION} --endpoint-url {box.endpoint} "
                f"-f {shlex.quote(os.path.abspath(manifests))}\n"
                "Press Ctrl-C to stop it."
            )
            _wait_for_interrupt()
    sys.exit(EXIT_OK if converged else EXIT_ERROR)


def _own_command() -> str:
    """How another shell runs this program: ``reconcile`` when PATH finds this one, else its path."""
    here = os.path.realpath(sys.argv[0])
    found = shutil.which("reconcile")
    if os.path.basename(here) != "reconcile" or (found and os.path.realpath(found) == here):
        return "reconcile"
    return shlex.quote(here)


def _sandbox_demo(endpoint: str, manifests: Path) -> bool:
    """Create the meshes the manifests name, then plan, apply and plan again."""
    from .appmesh_client import AppMesh
    from .engine import Reconciler

    result = loader.load(manifests)
    if not result.ok:
        _echo_problems(result.problems)
        return False
    mesh = AppMesh.connect(Connection(region=SANDBOX_REGION, endpoint_url=endpoint))
    for scope in sorted(result.state.scopes):
        mesh.create_mesh(scope)
    click.echo(f"; meshes: {', '.join(str(s) for s in sorted(result.state.scopes))}\n")
    reconciler = Reconciler(mesh, Shutdown())
    settings = settings_.resolve(result.settings)
    plan = reconciler.plan(result.state, settings, warnings(result.problems))
    click.echo(render.text(plan) + "\n")
    report = apply_with_progress(reconciler, plan)
    click.echo(render.report_text(report) + "\n")
    again = reconciler.plan(result.state, settings)
    click.echo("Planning again against the sandbox:\n" + render.text(again))
    return report.ok and not again.has_changes


def _wait_for_interrupt() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


@main.command()
def schema() -> None:
    """Print the JSON Schema of the manifest format (for yaml-language-server)."""
    click.echo(json.dumps(model.manifest_schema(settings_.SettingsManifest), indent=2, sort_keys=True))


def _problems_document(problems: list[Problem]) -> dict[str, Any]:
    return {
        "format_version": 1,
        "valid": not errors(problems),
        "problems": [p.as_dict() for p in problems],
    }


def _api_error(exc: ApiError) -> int:
    click.echo(click.style(f"error: {exc.describe()}", fg="red"), err=True)
    return EXIT_ERROR


def _echo_problems(problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(render.styled_problem(problem), err=True)
    found = errors(problems)
    if found:
        click.echo(f"{len(found)} error(s); nothing was changed.", err=True)
