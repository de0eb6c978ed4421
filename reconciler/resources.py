"""The engine's vocabulary: resource identity and desired/live resources.

Specs travel as plain JSON dicts in the API's shape; nothing here knows their
members, so the engine can outlive App Mesh's shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

GATEWAY = "VirtualGateway"
ROUTE = "GatewayRoute"


class ServiceState(StrEnum):
    """The service's ``status.status`` of a resource (botocore: VirtualGatewayStatusCode,
    GatewayRouteStatusCode)."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    DELETED = "DELETED"

    @classmethod
    def of(cls, text: str) -> ServiceState | None:
        """The state an answer names; None when it names none (or a value outside the model)."""
        return cls._value2member_map_.get(text)  # type: ignore[return-value]


class Scope(NamedTuple):
    """A mesh as addressed by the API: its name and, for a shared mesh, its owner."""

    mesh: str
    owner: str = ""

    def __str__(self) -> str:
        return f"{self.mesh}@{self.owner}" if self.owner else self.mesh


Group = tuple[Scope, str]  # a gateway with its routes: its mesh and its name


class Key(NamedTuple):
    """Identity per PRODUCT.md §1; sorts gateways before their routes.

    A named tuple, not a dataclass: the engine indexes everything by identity, and a
    tuple hashes and compares in C (a big tree's snapshot hashes its keys a million times).
    """

    scope: Scope
    gateway: str
    kind: str
    name: str

    # Comparisons by rank, not as tuples (which would put a gateway after its routes).
    def __lt__(self, other: tuple[Any, ...]) -> bool:
        return self.rank() < Key.rank(other)  # type: ignore[arg-type]

    def __gt__(self, other: tuple[Any, ...]) -> bool:
        return self.rank() > Key.rank(other)  # type: ignore[arg-type]

    def __le__(self, other: tuple[Any, ...]) -> bool:
        return not self > other

    def __ge__(self, other: tuple[Any, ...]) -> bool:
        return not self < other

    def __str__(self) -> str:
        return f"{self.kind} {self.address}"

    def rank(self) -> tuple[str, str, str, bool, str]:
        """The sort order as one tuple: ``sorted(keys, key=Key.rank)`` builds it once per key."""
        return (self.scope.mesh, self.scope.owner, self.gateway, self.kind != GATEWAY, self.name)

    @classmethod
    def gateway_key(cls, scope: Scope, name: str) -> Key:
        return cls(scope, name, GATEWAY, name)

    @classmethod
    def route_key(cls, scope: Scope, gateway: str, name: str) -> Key:
        return cls(scope, gateway, ROUTE, name)

    @property
    def group(self) -> Group:
        """The gateway this resource belongs to (a gateway: itself)."""
        return (self.scope, self.gateway)

    @property
    def parent(self) -> Key | None:
        """The gateway a route belongs to; None for a gateway."""
        return Key.gateway_key(self.scope, self.gateway) if self.kind == ROUTE else None

    @property
    def address(self) -> str:
        """Short, unique, human-readable identity: ``mesh/gateway[/route]``."""
        tail = self.gateway if self.kind == GATEWAY else f"{self.gateway}/{self.name}"
        return f"{self.scope}/{tail}"

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "mesh": self.scope.mesh, "name": self.name}
        if self.scope.owner:
            out["meshOwner"] = self.scope.owner
        if self.kind == ROUTE:
            out["virtualGateway"] = self.gateway
        return out


@dataclass(frozen=True)
class Source:
    """Where a desired resource was written: file and 1-based document number."""

    file: str
    document: int

    def __str__(self) -> str:
        return f"{self.file} (document {self.document})"


@dataclass(frozen=True)
class Desired:
    key: Key
    spec: Mapping[str, Any]
    tags: Mapping[str, str]
    source: Source
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Live:
    """A resource as App Mesh reports it. ``tags`` is None when not read."""

    key: Key
    spec: Mapping[str, Any]
    arn: str
    version: int
    tags: Mapping[str, str] | None = None
    stamp: str = ""  # lastUpdatedAt as the API wrote it: with the version, tells a cached answer current
    state: ServiceState | None = None  # the service's status.status


@dataclass
class DesiredState:
    """Everything the manifests ask for, and the meshes they speak about."""

    resources: dict[Key, Desired] = field(default_factory=dict)
    scopes: set[Scope] = field(default_factory=set)
    # The loader's index: per file, its identities by gateway (empty: not known, scan instead).
    sections: list[Mapping[Group, list[Key]]] = field(default_factory=list)

    def of_gateways(self, groups: AbstractSet[Group]) -> dict[Key, Desired]:
        """The resources of these gateways (with their routes), found without walking the tree."""
        if not self.sections:
            return {k: v for k, v in self.resources.items() if (k[0], k[1]) in groups}
        found = {k for section in self.sections for g in groups if g in section for k in section[g]}
        return {k: self.resources[k] for k in found if k in self.resources}

    def gateways_in(self, scopes: AbstractSet[Scope]) -> set[Key]:
        """The gateways the manifests define in these meshes."""
        if not self.sections:
            return {k for k in self.resources if k.kind == GATEWAY and k.scope in scopes}
        named = {Key.gateway_key(*g) for section in self.sections for g in section if g[0] in scopes}
        return {k for k in named if k in self.resources}


def touched(before: DesiredState, after: DesiredState, candidates: Iterable[Key]) -> set[Key]:
    """The gateways whose manifests, or whose routes' manifests, differ between two snapshots.

    ``candidates``: the identities that may have changed (those of the files that did).
    A file that is only relocated (a git-sync swap) or moved keeps its resources' specs,
    tags and annotations: it touches nothing.
    """
    old, new = before.resources, after.resources
    changed = {key for key in candidates if key not in new or not _same(old.get(key), new[key])}
    return {key.parent or key for key in changed}


def _same(before: Desired | None, after: Desired) -> bool:
    if before is None:
        return False
    if before is after:
        return True
    return before.spec == after.spec and before.tags == after.tags and before.annotations == after.annotations
