"""One reconcile: desired state → live state → plan → apply. Used by the CLI and the daemon."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

from .appmesh_client import AppMesh
from .executor import Executor
from .live import LiveReader, Progress
from .outcomes import Outcome, Report
from .plan import Plan, make_plan, rescope
from .problems import Problem
from .resources import DesiredState, Key
from .settings import Settings
from .shutdown import Shutdown


class Reconciler:
    """Holds the connection and the caches; the settings come with every plan (they live in the tree)."""

    def __init__(self, mesh: AppMesh, shutdown: Shutdown) -> None:
        self.mesh = mesh
        self.reader = LiveReader(mesh)
        self.executor = Executor(mesh, self.reader, shutdown)

    def plan(
        self,
        desired: DesiredState,
        settings: Settings,
        notes: Sequence[Problem] = (),
        gateways: AbstractSet[Key] | None = None,
        on_progress: Progress | None = None,
    ) -> Plan:
        """Read what the plan needs (tags only where they decide something) and plan against it.

        ``gateways``: only these gateways and their routes (a change run).

        ``on_progress`` hears of each resource read, with the total, during a full read.
        """

        def want_tags(key: Key) -> bool:
            # Tags decide adoption and tag drift of managed resources, and ownership of prune candidates.
            return settings.prune or key in desired.resources

        self.mesh.retrier.new_run()  # the time budget covers one run: its reads and its writes
        same = self.reader.one_identity(desired.scopes | (settings.meshes or set()))
        desired, settings, doubled = rescope(desired, settings, same)
        if gateways is None:
            scopes = settings.meshes if settings.meshes is not None else desired.scopes
            live = self.reader.read(scopes, want_tags, on_progress=on_progress)
        else:
            gateways = {g._replace(scope=same.get(g.scope, g.scope)) for g in gateways}
            live = self.reader.read_gateways((g for g in gateways if settings.manages(g.scope)), want_tags)
        return make_plan(desired, live, settings, [*doubled, *notes], gateways)

    def apply(self, plan: Plan, on_done: Callable[[Outcome], None] | None = None) -> Report:
        return self.executor.apply(plan, on_done)
