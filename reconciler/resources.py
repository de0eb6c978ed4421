"""The engine's vocabulary: resource identity and desired/live resources.

Specs travel as plain JSON dicts in the API's shape; nothing here knows their
members, so the engine can outlive App Mesh's shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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


@dataclass(frozen=True, order=True)
class Scope:
    """A mesh as addressed by the API: its name and, for a shared mesh, its owner."""

    mesh: str
    owner: str = ""

    def __str__(self) -> str:
        return f"{self.mesh}@{self.owner}" if self.owner else self.mesh


@dataclass(frozen=True)
class Key:
    """Identity per PRODUCT.md §1; sorts gateways before their routes."""

    scope: Scope
    gateway: str
    kind: str
    name: str

    def __lt__(self, other: Key) -> bool:
        return self.rank() < other.rank()

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
    def parent(self) -> Key | None:
        """The gateway a route belongs to; None for a gateway."""
        return Key.gateway_key(self.scope, self.gateway) if self.kind == ROUTE else None

    @property
    def address(self) -> str:
        """Short, unique, human-readable identity: ``mesh/gateway[/route]``."""
        tail = self.gateway if self.kind == GATEWAY else f"{self.gateway}/{self.name}"
        return f"{self.scope}/{tail}"

    def __str__(self) -> str:
        return f"{self.kind} {self.address}"

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
