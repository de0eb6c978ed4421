"""The ``reconcile`` command line (PRODUCT.md §2). Click handles parsing and help."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import loader, model, render
from . import settings as settings_
from .errors import ApiError
from .plan import Plan, make_plan, owned_tags
from .problems import Problem, Severity, errors, warnings
from .resources import Key, Live, Scope
from .settings import LeaseTiming, WatchSettings
from .shutdown import Shutdown
from .throttle import Limits, RetryPolicy
from .yamlload import Refused

if TYPE_CHECKING:
    from .adapter import AppMesh, CallObserver, Fence
    from .convert.gatewayapi import Conversion, ConversionMap
    from .daemon.leader import Elector
    from .daemon.notify import Notifier
    from .engine import Reconciler
    from .outcomes import Report

# The AWS SDK and the daemon's stack (watchdog, prometheus_client, rich) are imported
# by the commands that use them, so offline commands (validate, diff, schema) start
# without them.

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])
SANDBOX_REGION = "us-east-1"

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


def _parse_scopes(_: Any, __: Any, values: tuple[str, ...]) -> frozenset[Scope] | None:
    try:
        return frozenset(settings_.parse_scope(value) for value in values) if values else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _parse_owner(_: Any, __: Any, value: str | None) -> str | None:
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


def _tuning(
    flag: str, kind: click.IntRange | click.FloatRange, default: float, help_: str
) -> Callable[[F], F]:
    """A numeric option whose default is the one the code uses (never written twice)."""
    return click.option(flag, type=kind, default=default, show_default=True, help=help_)


_LIMITS, _RETRY, _DEFAULTS, _WATCH = Limits(), RetryPolicy(), settings_.Settings(), WatchSettings()
_LEASE = LeaseTiming()


def plan_meaning_options(fn: F) -> F:
    """Flags that override the tree's kind: Settings for one run (PRODUCT.md §6)."""
    for option in reversed(
        [
            click.option(
                "--owner",
                callback=_parse_owner,
                help=f"Value of the {model.OWNER_TAG} tag that marks resources this reconciler "
                f"manages. Setting: owner (default {_DEFAULTS.owner!r}).",
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
        ]
    ):
        fn = option(fn)
    return fn


def _overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """The plan-meaning flags given on this command line (None: not given)."""
    return {name: params.get(name) for name in settings_.ATTRIBUTES}


detailed_exitcode_option = click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when the plan (a dry run, or a diff) has changes."
)


def aws_options(fn: F) -> F:
    """Where and how to reach App Mesh; credentials come from the standard AWS chain only."""
    for option in reversed(
        [
            click.option("--region", envvar="AWS_REGION", help="AWS region (default: the AWS chain's)."),
            click.option("--profile", envvar="AWS_PROFILE", help="AWS shared-config profile."),
            click.option("--endpoint-url", help="Any App Mesh-compatible endpoint, e.g. the sandbox's."),
            _tuning(
                "--concurrency", click.IntRange(1, 64), _LIMITS.concurrency, "API calls in flight at once."
            ),
            _tuning(
                "--read-rate",
                click.FloatRange(min=0.1),
                _LIMITS.read_rate,
                "Client-side limit on read calls per second.",
            ),
            _tuning(
                "--write-rate",
                click.FloatRange(min=0.1),
                _LIMITS.write_rate,
                "Starting and highest write calls per second (backs off on 429).",
            ),
            _tuning(
                "--max-attempts",
                click.IntRange(1, 50),
                _RETRY.max_attempts,
                "Attempts per API call on throttling, 5xx and dropped connections.",
            ),
            _tuning(
                "--retry-budget",
                click.FloatRange(min=1),
                _RETRY.run_budget,
                "Seconds one run may spend retrying before giving up.",
            ),
            click.option(
                "--log-level",
                type=click.Choice(["debug", "info", "warning", "error"]),
                help="Default: info with --watch, warning otherwise.",
            ),
            click.option(
                "--log-format",
                type=click.Choice(["auto", "json", "console"]),
                default="auto",
                show_default=True,
                help="auto: console on a TTY, JSON lines otherwise.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 success and nothing left to do; 2 with --detailed-exitcode when a "
    "dry-run plan has changes; 1 any error.",
)
@click.version_option(package_name="appmesh-gateway-reconciler")
@manifests_option
@click.option("--dry-run", is_flag=True, help="Read live state and print the plan; change nothing.")
@_output_option("text", "json", "markdown")
@plan_meaning_options
@detailed_exitcode_option
@click.option(
    "--watch", is_flag=True, help="Run as a daemon: apply on every manifest change and on a resync."
)
@click.option(
    "--resync-interval",
    callback=_parse_duration,
    help=f"--watch: period of the full rescan that also puts back drift (90, 90s, 5m). "
    f"Setting: resyncInterval (default {_DEFAULTS.resync_interval:g}s).",
)
@click.option(
    "--debounce",
    callback=_parse_duration,
    help=f"--watch: quiet after a file event before reconciling. Setting: debounce "
    f"(default {_DEFAULTS.debounce:g}s).",
)
@click.option(
    "--watch-mode",
    type=click.Choice(["auto", "poll"]),
    default=_WATCH.mode,
    show_default=True,
    help="--watch: inotify (auto) or polling, for volumes that deliver no events.",
)
@click.option(
    "--metrics-addr",
    default=_WATCH.metrics_addr,
    show_default=True,
    help="--watch: HOST:PORT serving /healthz, /readyz and /metrics.",
)
@_tuning(
    "--grace-period",
    click.FloatRange(min=0),
    _WATCH.grace,
    "--watch: seconds to finish in-flight calls after SIGTERM before exiting.",
)
@_tuning(
    "--confirm-deletes-after",
    click.FloatRange(min=0),
    _WATCH.confirm_deletes,
    "--watch: a delete is applied only when planned again from a snapshot this many seconds later.",
)
@_tuning(
    "--stuck-after",
    click.FloatRange(min=1),
    _WATCH.stuck_after,
    "--watch: /healthz fails when one run has lasted longer than this many seconds.",
)
@click.option(
    "--notify-webhook",
    envvar="RECONCILE_NOTIFY_WEBHOOK",
    show_envvar=True,
    help="--watch: POST a JSON notice of every run that changed something or failed (a secret: "
    "never logged).",
)
@click.option(
    "--github-status-repo",
    metavar="OWNER/NAME",
    help="--watch: set a GitHub commit status on each applied revision (token from $GITHUB_TOKEN).",
)
@click.option(
    "--github-api-url",
    default="https://api.github.com",
    show_default=True,
    help="--watch: GitHub's API, or GitHub Enterprise's (https://HOST/api/v3).",
)
@click.option(
    "--github-status-context",
    default="appmesh-reconciler",
    show_default=True,
    help="--watch: the status's context.",
)
@click.option(
    "--leader-elect",
    is_flag=True,
    help="--watch: only the replica holding a coordination.k8s.io/v1 Lease writes; the others stand by.",
)
@click.option(
    "--lease-name", default="appmesh-reconciler", show_default=True, help="--leader-elect: the Lease."
)
@click.option(
    "--lease-namespace",
    envvar="POD_NAMESPACE",
    show_envvar=True,
    help="--leader-elect: the Lease's namespace (default: the pod's own).",
)
@click.option(
    "--lease-identity",
    envvar="POD_NAME",
    show_envvar=True,
    help="--leader-elect: this replica's holder identity (default: the host name).",
)
@_tuning(
    "--lease-duration", click.FloatRange(min=1), _LEASE.duration, "--leader-elect: seconds a Lease lasts."
)
@_tuning(
    "--lease-renew-deadline",
    click.FloatRange(min=0.5),
    _LEASE.renew_deadline,
    "--leader-elect: the leader stops writing when no renewal succeeded for this long.",
)
@_tuning(
    "--lease-retry-period",
    click.FloatRange(min=0.1),
    _LEASE.retry_period,
    "--leader-elect: seconds between tries.",
)
@aws_options
@click.pass_context
def main(ctx: click.Context, /, **params: Any) -> None:
    """Reconcile App Mesh virtual gateways and gateway routes with manifests.

    Without a command: plan, then apply once (or only print the plan with --dry-run).
    """
    if ctx.invoked_subcommand is not None:
        return
    if params["watch"] and params["dry_run"]:
        raise click.UsageError("--watch applies changes; use --dry-run without --watch")
    _configure_logs(params["log_level"] or ("info" if params["watch"] else "warning"), params["log_format"])
    sys.exit(_watch(params) if params["watch"] else _reconcile_once(**params))


def _watch(params: dict[str, Any]) -> int:
    """Wire the daemon: one shutdown signal, made here and handed down to every wait."""
    from .daemon.loop import Daemon, observer
    from .daemon.metrics import Metrics
    from .daemon.status import RunStatus
    from .engine import Reconciler

    metrics = Metrics()
    runs = RunStatus()
    shutdown = Shutdown()
    elector = _elector(params, shutdown) if params["leader_elect"] else None
    try:
        mesh = _connect(
            params,
            shutdown,
            observe=observer(metrics, runs),
            on_retry=lambda error: metrics.retries.labels(error.code).inc(),
            fence=elector.fence if elector is not None else None,
        )
    except ApiError as exc:
        return _api_error(exc)
    settings = WatchSettings(
        mode=params["watch_mode"],
        metrics_addr=params["metrics_addr"],
        grace=params["grace_period"],
        confirm_deletes=params["confirm_deletes_after"],
        stuck_after=params["stuck_after"],
    )
    reconciler = Reconciler(mesh, shutdown)
    daemon = Daemon(
        params["manifests"],
        reconciler,
        settings=settings,
        overrides=_overrides(params),
        metrics=metrics,
        shutdown=shutdown,
        notifier=_notifier(params, shutdown),
        elector=elector,
        runs=runs,
    )
    return daemon.run()


def _elector(params: dict[str, Any], shutdown: Shutdown) -> Elector:
    from .daemon import leader

    namespace = params["lease_namespace"] or _pod_namespace()
    if not namespace:
        raise click.UsageError("--leader-elect needs --lease-namespace (or $POD_NAMESPACE) outside a pod")
    try:
        lease = leader.LeaseConfig(
            params["lease_name"],
            namespace,
            params["lease_identity"] or socket.gethostname(),
            params["lease_duration"],
            params["lease_renew_deadline"],
            params["lease_retry_period"],
        )
    except ValueError as exc:
        raise click.UsageError(f"--lease-*: {exc}") from None
    return leader.Elector(leader.connect(), lease, shutdown)


def _pod_namespace() -> str:
    """The namespace the service account's projected volume names, inside a pod."""
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.is_file() else ""


def _notifier(params: dict[str, Any], shutdown: Shutdown) -> Notifier:
    from .daemon.notify import GitHubStatus, Notifier

    github = None
    if params["github_status_repo"]:
        token = os.environ.get("GITHUB_TOKEN", "")
        if not token:
            raise click.UsageError("--github-status-repo needs a token in $GITHUB_TOKEN")
        github = GitHubStatus(
            params["github_status_repo"], token, params["github_api_url"], params["github_status_context"]
        )
    return Notifier(shutdown, params["notify_webhook"] or "", github)


def _connect(
    params: dict[str, Any],
    shutdown: Shutdown,
    *,
    observe: CallObserver | None = None,
    on_retry: Callable[[ApiError], None] | None = None,
    fence: Fence | None = None,
) -> AppMesh:
    from .adapter import AppMesh, Connection

    limits = Limits(params["read_rate"], params["write_rate"], params["concurrency"])
    retry = RetryPolicy(max_attempts=params["max_attempts"], run_budget=params["retry_budget"])
    connection = Connection(params["region"], params["profile"], params["endpoint_url"])
    return AppMesh.connect(
        connection, limits, retry=retry, observe=observe, on_retry=on_retry, shutdown=shutdown, fence=fence
    )


def _reconcile_once(**params: Any) -> int:
    try:
        result = loader.load(params["manifests"])
    except loader.SnapshotChanged as exc:
        click.echo(click.style(f"error: {exc}; nothing was changed", fg="red"), err=True)
        return EXIT_ERROR
    if not result.ok:
        _echo_problems(result.problems)
        return EXIT_ERROR
    from .engine import Reconciler

    output = params["output"]
    try:
        shutdown = Shutdown()  # a one-shot run stops on Ctrl-C by KeyboardInterrupt
        reconciler = Reconciler(_connect(params, shutdown), shutdown)
        settings = settings_.resolve(result.settings, _overrides(params))
        plan = reconciler.plan(result.state, settings, warnings(result.problems))
        if params["dry_run"] or plan.blocked or not plan.has_changes or settings.suspend:
            click.echo(_render(plan, output))
            if settings.suspend and not params["dry_run"] and output == "text":
                click.echo(f"Suspended ({settings.origin('suspend')}): nothing was applied.")
            return _plan_exit_code(plan, params["detailed_exitcode"])
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
@_output_option("text", "json", "markdown")
@plan_meaning_options
@detailed_exitcode_option
def diff(*, base: Path, head: Path, output: str, detailed_exitcode: bool, **params: Any) -> None:
    """Plan HEAD's manifests against BASE's, offline (no AWS call): a preview without credentials.

    BASE stands for what is live: every resource in it as applied under BASE's settings.
    HEAD's settings decide what the plan means (flags override them), exactly as they
    will once merged, and a change to them is shown in the plan.
    """
    loaded = {}
    reuse: loader.Reuse = {}  # a file byte-identical in both trees is parsed and validated once
    for name, tree in (("BASE", base), ("HEAD", head)):
        loaded[name] = loader.load(tree, reuse=reuse)
        if not loaded[name].ok:
            click.echo(f"{name} ({tree}) has invalid manifests:", err=True)
            _echo_problems(loaded[name].problems)
            sys.exit(EXIT_ERROR)
    before = settings_.resolve(loaded["BASE"].settings)
    after = settings_.resolve(loaded["HEAD"].settings, _overrides(params))
    live = {
        key: Live(key, d.spec, f"manifest:{d.source}", 0, owned_tags(d.tags, before.owner))
        for key, d in loaded["BASE"].state.resources.items()
    }
    plan = make_plan(loaded["HEAD"].state, live, after, warnings(loaded["HEAD"].problems))
    plan.settings_changes = settings_.changes(before, settings_.resolve(loaded["HEAD"].settings))
    click.echo(_render(plan, output))
    sys.exit(_plan_exit_code(plan, detailed_exitcode))


@main.command()
@click.option("--mesh", required=True, help="Mesh to export.")
@click.option("--mesh-owner", default="", help="Account that owns a shared mesh (12 digits).")
@click.option("--virtual-gateway", "gateway", default="", help="Export only this gateway and its routes.")
@click.option(
    "-o", "--output-dir", type=click.Path(path_type=Path), required=True, help="Directory to write."
)
@click.option("--force", is_flag=True, help="Replace files that already exist (never through a link).")
@manifests_option
@aws_options
def export(mesh: str, mesh_owner: str, gateway: str, output_dir: Path, force: bool, **params: Any) -> None:
    """Write live gateways and routes as manifests (to adopt existing resources, or to archive).

    A mesh outside the tree's settings ``meshes`` is refused: this instance never reads it.
    """
    _configure_logs(params["log_level"] or "warning", params["log_format"])
    from . import export as exporter
    from . import files

    live, vanished = _read_mesh(Scope(mesh, mesh_owner), params)
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


def _read_mesh(scope: Scope, params: dict[str, Any]) -> tuple[dict[Key, Live], list[str]]:
    """Every gateway and route of a mesh this instance manages, and what vanished while read."""
    settings = _tree_settings(params["manifests"])
    if not settings.manages(scope):
        origin = settings.origin("meshes")
        raise click.UsageError(f"mesh {scope} is not among the meshes this instance manages ({origin})")
    from .live import LiveReader

    vanished: list[str] = []
    try:
        reader = LiveReader(_connect(params, Shutdown()))
        live = reader.read({scope}, lambda _key: True, lambda key: vanished.append(str(key)))
    except ApiError as exc:
        sys.exit(_api_error(exc))
    for key in vanished:
        message = f"warning: {render.clean(key)} was listed but gone when described; not read"
        click.echo(click.style(message, fg="yellow"), err=True)
    return live, vanished


@main.command()
@click.option("--to", "target", type=click.Choice(["gateway-api"]), required=True, help="What to convert to.")
@click.option(
    "-o", "--output-dir", type=click.Path(path_type=Path), required=True, help="Directory to write."
)
@click.option("--gateway-class", required=True, help="gatewayClassName of every Gateway written.")
@click.option("--namespace", help="Namespace of every object (default: one per mesh, named after it).")
@click.option(
    "--map",
    "map_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="YAML: virtual services → Services (name, namespace, port); certificates → Secrets.",
)
@click.option(
    "--crds",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Check every object against these CustomResourceDefinitions before writing anything.",
)
@click.option("--mesh", help="Convert a live mesh instead of the manifests (read like `export`).")
@click.option("--mesh-owner", default="", help="Account that owns a shared mesh (12 digits).")
@click.option("--report", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 on any loss or priority conflict (files are written).")
@click.option("--force", is_flag=True, help="Replace files that already exist (never through a link).")
@manifests_option
@aws_options
def convert(*, target: str, output_dir: Path, mesh: str | None, mesh_owner: str, **params: Any) -> None:
    """Write the gateways and routes as Kubernetes Gateway API v1 objects, with a loss report.

    Every field Gateway API cannot express is reported with its path and what was
    written instead; routes whose App Mesh priority order Gateway API would not keep
    are reported in pairs. Nothing is written when the input or the check fails.
    """
    from . import files
    from .convert import gatewayapi, precedence, report

    assert target == "gateway-api"  # the only choice click accepts
    _configure_logs(params["log_level"] or "warning", params["log_format"])
    if mesh:
        live, _vanished = _read_mesh(Scope(mesh, mesh_owner), params)
        specs = {key: resource.spec for key, resource in live.items()}
    else:
        specs = {
            key: desired.spec for key, desired in _load_or_exit(params["manifests"]).state.resources.items()
        }
    options = gatewayapi.Options(
        params["gateway_class"], params["namespace"], _conversion_map(params["map_file"])
    )
    conversion = gatewayapi.convert(specs, options)
    conflicts = precedence.conflicts(conversion.objects)
    if params["crds"]:
        _check_against_crds(conversion, params["crds"])
    try:
        paths = files.write_files(
            conversion.files(output_dir), output_dir, gatewayapi.HEADER, force=params["force"]
        )
    except files.WriteRefused as exc:
        click.echo(click.style(f"error: {render.clean(str(exc))}; nothing was written", fg="red"), err=True)
        sys.exit(EXIT_ERROR)
    written = [str(path) for path in paths]
    if params["report"] == "json":
        click.echo(report.as_json(conversion, conflicts, written))
    else:
        click.echo(report.text(conversion, conflicts, written))
    lossy = bool(conversion.losses or conflicts)
    sys.exit(EXIT_ERROR if params["strict"] and lossy else EXIT_OK)


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


def _check_against_crds(conversion: Conversion, crds: Path) -> None:
    try:
        from .convert import crdcheck
    except ImportError:
        raise click.UsageError(
            "--crds needs jsonschema and cel-python: pip install 'appmesh-gateway-reconciler[convert]'"
        ) from None
    try:
        schemas = crdcheck.Schemas.load(crds)
    except crdcheck.CrdError as exc:
        raise click.UsageError(str(exc)) from None
    violations = [v for obj in conversion.objects for v in schemas.check(obj.body)]
    for violation in violations:
        click.echo(click.style(render.clean(f"error: {violation}"), fg="red"), err=True)
    if violations:
        click.echo(
            f"{len(violations)} object(s) would be refused by the API server; nothing was written.", err=True
        )
        sys.exit(EXIT_ERROR)


def _configure_logs(level: str, fmt: str = "auto") -> None:
    from . import logs  # structlog, only for commands that log

    logs.configure(level, fmt)


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
    from rich.progress import Progress

    total = sum(1 for s in plan.steps if s.actions)
    if not sys.stderr.isatty() or total < 2:
        return reconciler.apply(plan)
    with Progress(transient=True) as progress:
        task = progress.add_task("Applying", total=total)
        return reconciler.apply(plan, lambda _: progress.advance(task))


@main.command()
@manifests_option
@_output_option("text", "json")
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

    _configure_logs("warning")
    # The sandbox accepts any credentials; never send a user's real ones to it.
    os.environ.update(AWS_ACCESS_KEY_ID="sandbox", AWS_SECRET_ACCESS_KEY="sandbox")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    with Sandbox(Realism(real_errors=realistic), port=port) as box:
        click.echo(f"Sandbox App Mesh at {box.endpoint} (region {SANDBOX_REGION})", nl=not demo)
        converged = _sandbox_demo(box.endpoint, manifests) if demo else True
        if serve or not demo:
            click.echo(
                "\nThe sandbox keeps running; in another shell:\n"
                f"  AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox reconcile --dry-run "
                f"--region {SANDBOX_REGION} --endpoint-url {box.endpoint} -f {manifests}\n"
                "Press Ctrl-C to stop it."
            )
            _wait_for_interrupt()
    sys.exit(EXIT_OK if converged else EXIT_ERROR)


def _sandbox_demo(endpoint: str, manifests: Path) -> bool:
    """Create the meshes the manifests name, then plan, apply and plan again."""
    from .adapter import AppMesh, Connection
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
