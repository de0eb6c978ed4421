"""Read live gateways and routes: List everything, Describe only what changed.

A steady-state resync costs the List calls and nothing more: a Describe answer is
cached under its ARN, version and lastUpdatedAt, so it is asked for again only
when the resource changed (or was recreated). Tags are read only for resources a
decision needs them for, and cached the same way. A daemon's change run reads only
the gateways the change touches (``read_gateways``): one Describe and one List each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import structlog

from .appmesh_client import AppMesh, Summary
from .errors import NotFound
from .resources import GATEWAY, ROUTE, Key, Live, Scope
from .threads import parallel_map

log = structlog.get_logger("reconciler.live")

_Stamp = tuple[int, str]
Progress = Callable[[int, int], None]  # resources read so far, of how many
PROGRESS_EVERY = 10.0  # seconds between progress events in the log


class _Tally:
    """Resources read of the total: told to the caller each time, logged every few seconds.

    A cold start reads every resource (a Describe and, for tags, a second call each):
    minutes for a big tree at the default read rate, and the log says how far it got.
    """

    def __init__(self, total: int, on_progress: Progress | None) -> None:
        self.total = total
        self.read = 0
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._started = self._logged = time.monotonic()

    def one(self, live: Live | None) -> Live | None:
        with self._lock:
            self.read += 1
            read, now = self.read, time.monotonic()
            due = now - self._logged >= PROGRESS_EVERY
            if due:
                self._logged = now
        if self._on_progress is not None:
            self._on_progress(read, self.total)
        if due:
            rate = read / (now - self._started)
            log.info("live.progress", read=read, total=self.total, per_second=round(rate, 1))
        return live


class LiveReader:
    def __init__(self, mesh: AppMesh) -> None:
        self.mesh = mesh
        self._specs: dict[str, tuple[_Stamp, Live]] = {}
        self._tags: dict[str, tuple[_Stamp, dict[str, str]]] = {}
        self._own_owner: dict[str, str] = {}  # mesh name → the account owning it in the caller's account

    def read(
        self,
        scopes: Iterable[Scope],
        want_tags: Callable[[Key], bool],
        on_vanished: Callable[[Key], None] | None = None,
        on_progress: Progress | None = None,
    ) -> dict[Key, Live]:
        """Live state of every gateway and route in ``scopes``.

        A resource listed but gone by the time it is described is left out (it no longer
        exists); ``on_vanished`` hears of each, for callers that must say so.
        ``on_progress`` hears of each resource read, with the total listed.
        """
        summaries = [s for scope in sorted(scopes) for s in self._list_scope(scope)]
        tally = _Tally(len(summaries), on_progress)
        found = parallel_map(
            lambda s: tally.one(self._resolve(s, want_tags(s.key))), summaries, self.mesh.workers
        )
        for summary, live in zip(summaries, found, strict=True):
            if live is None and on_vanished is not None:
                on_vanished(summary.key)
        return {live.key: live for live in found if live is not None}

    def read_gateways(self, gateways: Iterable[Key], want_tags: Callable[[Key], bool]) -> dict[Key, Live]:
        """Live state of these gateways and their routes alone: what a change to them needs.

        The gateway is described directly (one call, however many gateways its mesh
        holds), its routes listed; a gateway that does not exist has no routes.
        """
        batches = parallel_map(self._list_gateway, sorted(gateways), self.mesh.workers)
        summaries = [summary for batch in batches for summary in batch]
        found = parallel_map(lambda s: self._resolve(s, want_tags(s.key)), summaries, self.mesh.workers)
        return {live.key: live for live in found if live is not None}

    def one_identity(self, scopes: Iterable[Scope]) -> dict[Scope, Scope]:
        """Each scope as the API addresses it once: ``MESH@ACCOUNT`` is ``MESH`` when the account is ours.

        Without this the same mesh read under both spellings holds every resource twice, and
        a prune deletes the copy the manifests named under the other spelling. Asked once per
        mesh named with an owner; the answer is kept (a mesh's owner never changes).
        """
        out = {}
        for scope in scopes:
            if scope.owner and scope.mesh not in self._own_owner:
                owner = self.mesh.own_mesh_owner(scope.mesh)
                if owner is not None:
                    self._own_owner[scope.mesh] = owner
            same = scope.owner and self._own_owner.get(scope.mesh) == scope.owner
            out[scope] = Scope(scope.mesh) if same else scope
        return out

    def remember(self, live: Live) -> None:
        """Seed the cache with what a write answered (the resource, its version, the tags sent).

        The next resync then lists, finds the same version and stamp, and describes
        nothing: the first resync after an apply costs the List calls alone.
        """
        stamp = (live.version, live.stamp)
        self._specs[live.arn] = (stamp, replace(live, tags=None))
        if live.tags is not None:
            self._tags[live.arn] = (stamp, dict(live.tags))

    def forget(self, arn: str) -> None:
        """Drop a resource that is gone; the next read asks again."""
        self._specs.pop(arn, None)
        self._tags.pop(arn, None)

    def _list_scope(self, scope: Scope) -> list[Summary]:
        try:
            gateways = list(self.mesh.summaries(scope, GATEWAY))
        except NotFound as exc:
            owner = f" owned by account {scope.owner}" if scope.owner else ""
            raise NotFound(
                f"mesh {scope.mesh!r}{owner} does not exist or is not shared with this account",
                code=exc.code,
                status=exc.status,
                operation=exc.operation,
            ) from None
        routes = parallel_map(
            lambda g: list(self.mesh.summaries(scope, ROUTE, g.key.gateway)), gateways, self.mesh.workers
        )
        return gateways + [r for batch in routes for r in batch]

    def _list_gateway(self, gateway: Key) -> list[Summary]:
        try:
            live = self.mesh.describe(gateway)
        except NotFound:
            return []  # no such gateway (or mesh): nothing of it is live
        self._specs[live.arn] = ((live.version, live.stamp), live)
        own = Summary(gateway, live.arn, live.version, live.stamp)
        try:
            return [own, *self.mesh.summaries(gateway.scope, ROUTE, gateway.gateway)]
        except NotFound:
            return [own]  # deleted since it was described

    def _resolve(self, summary: Summary, with_tags: bool) -> Live | None:
        stamp = (summary.version, summary.stamp)
        cached = self._specs.get(summary.arn)
        if cached is None or cached[0] != stamp:
            try:
                live = self.mesh.describe(summary.key)
            except NotFound:
                return None  # deleted between List and Describe
            cached = (stamp, replace(live, tags=None))
            self._specs[summary.arn] = cached
        live = cached[1]
        if not with_tags:
            return live
        tags = self._tags.get(summary.arn)
        if tags is None or tags[0] != stamp:
            tags = (stamp, self.mesh.tags(summary.arn))
            self._tags[summary.arn] = tags
        return replace(live, tags=tags[1])
