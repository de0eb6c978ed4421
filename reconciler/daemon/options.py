"""How the daemon runs: its own flags, as typed objects (what its plans mean is ``settings.py``).

Plain dataclasses with no import of the daemon's stack, so the command line can show
their defaults in ``--help`` without loading watchdog, prometheus_client or the
Kubernetes client.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LEASE = "appmesh-reconciler"
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_STATUS_CONTEXT = "appmesh-reconciler"


@dataclass(frozen=True, kw_only=True)
class DaemonOptions:
    """``--watch``'s own flags: how it watches, serves probes and stops."""

    mode: str = "auto"  # "poll" for volumes that deliver no file events
    metrics_addr: str = "0.0.0.0:8080"
    grace: float = 25.0
    confirm_deletes: float = 5.0
    stuck_after: float = 900.0  # /healthz fails after this long without an answer from App Mesh
    status_detail: bool = False  # the probes show errors and mesh owners (else: the logs only)


@dataclass(frozen=True)
class LeaseConfig:
    """``--leader-elect``'s Lease; client-go's timing defaults (15 s Lease, 2 s retry, 10 s deadline).

    An empty namespace or identity is filled in by the composition root (the pod's
    namespace, the host name) before an elector uses it.
    """

    name: str = DEFAULT_LEASE
    namespace: str = ""
    identity: str = ""
    duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.duration:
            raise ValueError("need retry period < renew deadline < lease duration")


@dataclass(frozen=True, kw_only=True)
class NotifyOptions:
    """Where the daemon reports its runs: a webhook (a secret) and GitHub commit statuses."""

    webhook: str = ""
    github_repo: str = ""  # OWNER/NAME; empty: no commit statuses
    github_api_url: str = DEFAULT_GITHUB_API
    github_context: str = DEFAULT_STATUS_CONTEXT
