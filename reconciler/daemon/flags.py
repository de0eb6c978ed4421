"""The daemon's own flags (``--watch-mode``, ``--notify-*``, ``--lease-*``…), each group one typed object.

The wing declares its flags beside its options, as Flux binds each concern's flags;
only ``cli.py`` imports this, and nothing here loads the daemon's stack.
"""

from __future__ import annotations

import click

from ..flags import FiniteRange, option_group, parse_address, tuning
from .options import DaemonOptions, LeaseConfig, NotifyOptions

_DAEMON, _LEASE, _NOTIFY = DaemonOptions(), LeaseConfig(), NotifyOptions()

daemon_options = option_group(
    "daemon",
    DaemonOptions,
    click.option(
        "--watch-mode",
        "mode",
        type=click.Choice(["auto", "poll"]),
        default=_DAEMON.mode,
        show_default=True,
        help="--watch: inotify (auto) or polling, for volumes that deliver no events.",
    ),
    click.option(
        "--metrics-addr",
        default=_DAEMON.metrics_addr,
        show_default=True,
        callback=parse_address,
        help="--watch: HOST:PORT serving /healthz, /readyz and /metrics (port 0: a free one).",
    ),
    tuning(
        "--grace-period",
        FiniteRange(min=0),
        _DAEMON.grace,
        "--watch: seconds to finish in-flight calls after SIGTERM before exiting.",
        "grace",
    ),
    tuning(
        "--confirm-deletes-after",
        FiniteRange(min=0),
        _DAEMON.confirm_deletes,
        "--watch: a delete is applied only when planned again from a snapshot this many seconds later.",
        "confirm_deletes",
    ),
    click.option(
        "--status-detail",
        is_flag=True,
        help="--watch: /readyz and /status show error texts and mesh owners' account IDs (by default "
        "they are withheld from whoever can reach the port, and kept in the logs).",
    ),
    tuning(
        "--stuck-after",
        FiniteRange(min=1),
        _DAEMON.stuck_after,
        "--watch: /healthz fails when a run has had no answer from App Mesh for this many seconds.",
    ),
)

notify_options = option_group(
    "notify",
    NotifyOptions,
    click.option(
        "--notify-webhook",
        "webhook",
        default="",
        envvar="RECONCILE_NOTIFY_WEBHOOK",
        show_envvar=True,
        help="--watch: POST a JSON notice of every run that changed something or failed (a secret: "
        "never logged).",
    ),
    click.option(
        "--github-status-repo",
        "github_repo",
        default="",
        metavar="OWNER/NAME",
        help="--watch: set a GitHub commit status on each applied revision (token from $GITHUB_TOKEN).",
    ),
    click.option(
        "--github-api-url",
        default=_NOTIFY.github_api_url,
        show_default=True,
        help="--watch: GitHub's API, or GitHub Enterprise's (https://HOST/api/v3).",
    ),
    click.option(
        "--github-status-context",
        "github_context",
        default=_NOTIFY.github_context,
        show_default=True,
        help="--watch: the status's context.",
    ),
)


def _lease(
    *,
    leader_elect: bool,
    lease_name: str,
    lease_namespace: str | None,
    lease_identity: str | None,
    lease_duration: float,
    lease_renew_deadline: float,
    lease_retry_period: float,
) -> LeaseConfig | None:
    """The Lease to hold with ``--leader-elect``; None without it (the ``--lease-*`` flags are unused)."""
    if not leader_elect:
        return None
    try:
        return LeaseConfig(
            lease_name,
            lease_namespace or "",
            lease_identity or "",
            lease_duration,
            lease_renew_deadline,
            lease_retry_period,
        )
    except ValueError as exc:
        raise click.UsageError(f"--lease-*: {exc}") from None


lease_options = option_group(
    "lease",
    _lease,
    click.option(
        "--leader-elect",
        is_flag=True,
        help="--watch: only the replica holding a coordination.k8s.io/v1 Lease writes; the others stand by.",
    ),
    click.option("--lease-name", default=_LEASE.name, show_default=True, help="--leader-elect: the Lease."),
    click.option(
        "--lease-namespace",
        envvar="POD_NAMESPACE",
        show_envvar=True,
        help="--leader-elect: the Lease's namespace (default: the pod's own).",
    ),
    click.option(
        "--lease-identity",
        envvar="POD_NAME",
        show_envvar=True,
        help="--leader-elect: this replica's holder identity (default: the host name).",
    ),
    tuning("--lease-duration", FiniteRange(min=1), _LEASE.duration, "--leader-elect: seconds a Lease lasts."),
    tuning(
        "--lease-renew-deadline",
        FiniteRange(min=0.5),
        _LEASE.renew_deadline,
        "--leader-elect: the leader stops writing when no renewal succeeded for this long.",
    ),
    tuning(
        "--lease-retry-period",
        FiniteRange(min=0.1),
        _LEASE.retry_period,
        "--leader-elect: seconds between tries.",
    ),
)
