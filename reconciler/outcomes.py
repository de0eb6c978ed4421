"""What applying a plan did, step by step: the executor writes it, renderers and the daemon read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .plan import Action
from .resources import Key, ServiceState


class Status(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Done(StrEnum):
    """What a successful step did: code branches on this, never on the message."""

    CREATED = "created"
    CHANGED = "changed"  # updated and/or re-tagged
    ADOPTED = "adopted"  # the create found it existing (409) and converged it
    DELETED = "deleted"
    ALREADY_GONE = "already gone"


@dataclass(frozen=True)
class Outcome:
    key: Key
    action: Action
    status: Status
    message: str = ""
    error_code: str = ""
    done: Done | None = None
    state: ServiceState | None = (
        None  # the service's status.status as the write answered (DELETED after a delete)
    )


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status is Status.DONE for o in self.outcomes)

    def count(self, status: Status, action: Action | None = None) -> int:
        return sum(1 for o in self.outcomes if o.status is status and action in (None, o.action))
