"""One reconcile: desired state → live state → plan → apply. Used by the CLI and the daemon."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .adapter import AppMesh
from .executor import Executor, Outcome, Report
from .live import LiveReader
from .plan import Options, Plan, make_plan
from .problems import Problem
from .resources import DesiredState, Key, Scope


@dataclass(frozen=True)
class Settings:
    options: Options = field(default_factory=Options)
    # Meshes managed even when no manifest names them (so they can be pruned empty).
    scopes: frozenset[Scope] = field(default_factory=frozenset)


class Reconciler:
    def __init__(self, mesh: AppMesh, settings: Settings) -> None:
        self.mesh = mesh
        self.settings = settings
        self.reader = LiveReader(mesh)
        self.executor = Executor(mesh, self.reader)

    def plan(self, desired: DesiredState, notes: Sequence[Problem] = ()) -> Plan:
        options = self.settings.options

        def want_tags(key: Key) -> bool:
            # Tags decide adoption and tag drift of managed resources, and ownership of prune candidates.
            return options.prune or key in desired.resources

        self.mesh.retrier.new_run()  # the time budget covers one run: its reads and its writes
        live = self.reader.read(desired.scopes | self.settings.scopes, want_tags)
        return make_plan(desired, live, options, notes)

    def apply(self, plan: Plan, on_done: Callable[[Outcome], None] | None = None) -> Report:
        return self.executor.apply(plan, on_done)
