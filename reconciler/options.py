"""How this process runs, as opposed to what its plans mean (that is ``settings.py``).

The command line gathers each group of flags into one of these typed objects before a
command runs; the engine and the daemon's composition root take them as they are.
Nothing here imports the AWS SDK, so offline commands can declare their flags with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .throttle import Limits, RetryPolicy


@dataclass(frozen=True)
class Connection:
    """Where App Mesh is; credentials come from the standard AWS chain only."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class AwsOptions:
    """Where to reach App Mesh and how hard to press it: one process's client."""

    connection: Connection = field(default_factory=Connection)
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class LogFormat(StrEnum):
    AUTO = "auto"  # console on a TTY, JSON lines otherwise
    JSON = "json"
    CONSOLE = "console"


@dataclass(frozen=True, kw_only=True)
class LogOptions:
    """``--log-level`` and ``--log-format``; no level given means the command's own default."""

    level: str | None = None
    format: LogFormat = LogFormat.AUTO
