"""The daemon's composition root: builds every part of ``--watch`` from typed options.

One shutdown signal is made here and handed down to every wait (the App Mesh client's
rate limits and retries, the notifier, the elector, the loop). The command line only
gathers the options; what they become lives here, as kopf's ``running.spawn_tasks``
and Flux's per-concern ``Options`` do.
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..appmesh_client import AppMesh
from ..engine import Reconciler
from ..options import AwsOptions
from ..settings import Overrides
from ..shutdown import Shutdown
from .loop import Daemon, observer
from .metrics import Metrics
from .notify import GitHubStatus, Notifier, UnsafeUrl
from .options import DaemonOptions, LeaseConfig, NotifyOptions
from .status import RunStatus

if TYPE_CHECKING:
    from .leader import Elector  # the Kubernetes client is imported only with --leader-elect

POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def run(
    manifests: Path,
    overrides: Overrides,
    *,
    aws: AwsOptions,
    options: DaemonOptions,
    lease: LeaseConfig | None,
    notify: NotifyOptions,
) -> int:
    """Wire the daemon and run it until it stops; the exit status (raises ``ApiError`` on connect)."""
    metrics = Metrics()
    runs = RunStatus()
    shutdown = Shutdown()
    chosen = elector(lease, shutdown) if lease is not None else None
    mesh = AppMesh.connect(
        aws.connection,
        limits=aws.limits,
        retry=aws.retry,
        observe=observer(metrics, runs),  # each answer is progress: liveness and readiness see it
        on_retry=lambda error: metrics.retries.labels(error.code).inc(),
        shutdown=shutdown,
        fence=chosen.fence if chosen is not None else None,  # no write unless surely still leading
    )
    daemon = Daemon(
        manifests,
        Reconciler(mesh, shutdown),
        options=options,
        overrides=overrides,
        metrics=metrics,
        shutdown=shutdown,
        notifier=notifier(notify, shutdown),
        elector=chosen,
        runs=runs,
    )
    return daemon.run()


def elector(lease: LeaseConfig, shutdown: Shutdown) -> Elector:
    """An elector for ``lease``, its namespace and identity defaulting to the pod's own."""
    from . import leader  # noqa: PLC0415 - the Kubernetes client, only with --leader-elect

    namespace = lease.namespace or _pod_namespace()
    if not namespace:
        raise click.UsageError("--leader-elect needs --lease-namespace (or $POD_NAMESPACE) outside a pod")
    lease = replace(lease, namespace=namespace, identity=lease.identity or socket.gethostname())
    return leader.Elector(leader.connect(), lease, shutdown)


def _pod_namespace() -> str:
    """The namespace the service account's projected volume names, inside a pod."""
    return POD_NAMESPACE_FILE.read_text().strip() if POD_NAMESPACE_FILE.is_file() else ""


def notifier(notify: NotifyOptions, shutdown: Shutdown) -> Notifier:
    """The run notices' sender; a GitHub status needs a token in ``$GITHUB_TOKEN``."""
    github = None
    if notify.github_repo:
        token = os.environ.get("GITHUB_TOKEN", "")
        if not token:
            raise click.UsageError("--github-status-repo needs a token in $GITHUB_TOKEN")
        try:
            github = GitHubStatus(notify.github_repo, token, notify.github_api_url, notify.github_context)
        except UnsafeUrl as exc:
            raise click.UsageError(f"--github-api-url {exc}") from None
    try:
        return Notifier(shutdown, notify.webhook, github)
    except UnsafeUrl as exc:  # the URL itself is a secret: not repeated
        raise click.UsageError(f"--notify-webhook {exc}") from None
