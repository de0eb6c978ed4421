"""What a plan means, declared once beside the manifests (PRODUCT.md §6).

Every mode (one-shot, dry run, the daemon, the offline diff, export) reads the tree's
``kind: Settings`` document the same way; a command-line flag overrides one setting
for one run, except the owner: that is the deployment's (``--owner`` /
``RECONCILE_OWNER`` pins it), and a tree naming another owner is an error, so a pull
request cannot hand this instance another team's resources. ``resolve`` builds the
effective settings once per snapshot, keyword-only, with one home per setting, and
records where each value came from so every plan can say so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from .problems import Problem
from .resources import Scope, Source

KIND = "Settings"
DEFAULT = "default"
PINNED = "pinned by --owner / RECONCILE_OWNER"
# The settings that decide which resources this instance may touch at all.
BOUNDARY = ("owner", "meshes", "prune")

# An owner is a tag value (1-256 of AWS's tag characters); no spaces, nothing empty.
OWNER_PATTERN = r"^[A-Za-z0-9_.:/=+\-@]{1,256}$"
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h))")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"5m"``, ``"1h30m"`` → seconds (Go's and Kubernetes' notation)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a duration is a number of seconds or a string like '5m'")
    if not isinstance(value, str):
        if not math.isfinite(value):
            raise ValueError("a duration is a finite number of seconds")
        return float(value)
    text = value.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration like '90s', '5m' or '1h30m'")
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


def parse_scope(text: str) -> Scope:
    """``MESH`` or ``MESH@ACCOUNT_ID``, as settings and ``--mesh`` name a mesh."""
    mesh, _sep, owner = text.partition("@")
    if not mesh or (owner and not re.fullmatch(r"[0-9]{12}", owner)):
        raise ValueError(f"{text!r}: expected MESH or MESH@ACCOUNT_ID (12 digits)")
    return Scope(mesh, owner)


def _scope(value: Any) -> Any:
    if isinstance(value, str):
        parse_scope(value)
    return value


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h))+$"}]}
    ),
]
MeshRef = Annotated[str, Field(min_length=1, max_length=268), BeforeValidator(_scope)]


class SettingsSpec(BaseModel):
    """The ``spec`` of a ``kind: Settings`` document: the contract's field names."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    owner: Annotated[str, Field(pattern=OWNER_PATTERN)] | None = None
    prune: bool | None = None
    allowEmpty: bool | None = None
    maxDeletes: Annotated[int, Field(ge=0, le=100_000)] | None = None
    meshes: Annotated[list[MeshRef], Field(min_length=1, max_length=1000)] | None = None
    resyncInterval: Annotated[Duration, Field(ge=1, le=86_400)] | None = None
    debounce: Annotated[Duration, Field(ge=0, le=300)] | None = None
    suspend: bool | None = None


class SettingsMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=253)]


class SettingsManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    apiVersion: Literal["appmesh.reconciler/v1"]
    kind: Literal["Settings"]
    metadata: SettingsMetadata | None = None
    spec: SettingsSpec


@dataclass(frozen=True)
class Declared:
    """The tree's settings document, as validated, and where it was written."""

    spec: SettingsSpec
    source: Source


# Document field → Settings attribute; the order is the order plans list them in.
_FIELDS = {
    "owner": "owner",
    "prune": "prune",
    "allowEmpty": "allow_empty",
    "maxDeletes": "max_deletes",
    "meshes": "meshes",
    "resyncInterval": "resync_interval",
    "debounce": "debounce",
    "suspend": "suspend",
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The effective settings of one run (or one daemon snapshot)."""

    owner: str = "default"
    prune: bool = False
    allow_empty: bool = False  # an empty tree (or mesh) may prune everything in it
    max_deletes: int = 10
    meshes: frozenset[Scope] | None = None  # None: the meshes the manifests name
    resync_interval: float = 300.0
    debounce: float = 1.0
    suspend: bool = False  # plan and report drift, write nothing
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    # What makes these settings unusable (a tree naming another owner than the pinned one):
    # every plan made with them carries these errors, so nothing is applied.
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    def manages(self, scope: Scope) -> bool:
        return self.meshes is None or scope in self.meshes

    def origin(self, attribute: str) -> str:
        return self.origins.get(attribute, DEFAULT)

    def described(self) -> list[tuple[str, Any, str]]:
        """``(document field, JSON value, origin)`` for every setting: what a plan states."""
        return [(name, self.json_value(attr), self.origin(attr)) for name, attr in _FIELDS.items()]

    def json_value(self, attribute: str) -> Any:
        value = getattr(self, attribute)
        if isinstance(value, frozenset):
            return sorted(str(scope) for scope in value)
        return value


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """The plan-meaning flags of one command line; None: not given, the tree decides.

    Each field is named after the ``Settings`` attribute it overrides and after its flag.
    """

    owner: str | None = None  # a pin (--owner / RECONCILE_OWNER), not an override: see resolve
    prune: bool | None = None
    allow_empty: bool | None = None
    max_deletes: int | None = None
    meshes: frozenset[Scope] | None = None
    resync_interval: float | None = None
    debounce: float | None = None
    suspend: bool | None = None


def resolve(declared: Declared | None, overrides: Overrides | None = None) -> Settings:
    """Defaults, then the tree's document, then flags.

    The ``owner`` flag is a pin, not an override: a tree naming another owner is an
    error (in ``problems``) rather than something the pin silently wins over.
    """
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if declared is not None:
        for name, attribute in _FIELDS.items():
            given = getattr(declared.spec, name)
            if given is not None:
                values[attribute] = _scopes(given) if attribute == "meshes" else given
                origins[attribute] = f"settings {declared.source}"
    for attribute in _FIELDS.values():
        value = getattr(overrides, attribute, None)
        if value is not None:
            values[attribute] = value
            origins[attribute] = f"flag --{attribute.replace('_', '-')}"
    pinned = overrides.owner if overrides is not None else None
    if pinned is not None:
        origins["owner"] = PINNED
    problems = _owner_conflict(declared, pinned)
    return replace(Settings(), **values, origins=origins, problems=problems)


def _owner_conflict(declared: Declared | None, pinned: str | None) -> tuple[Problem, ...]:
    named = declared.spec.owner if declared is not None else None
    if declared is None or pinned is None or named is None or named == pinned:
        return ()
    message = (
        f"the tree's settings name owner {named!r}, but this instance is pinned to owner {pinned!r} "
        "(--owner / RECONCILE_OWNER): a change to the tree cannot move what the deployment may touch"
    )
    return (Problem.at(declared.source, message, "spec.owner"),)


def _scopes(refs: list[str]) -> frozenset[Scope]:
    return frozenset(parse_scope(ref) for ref in refs)


def widens(name: str, before: Any, after: Any) -> bool:
    """Whether a change of a boundary setting lets this instance touch more than before.

    Another owner hands it other resources; ``prune`` on lets it delete; ``meshes``
    gone (every mesh the manifests name) or with a mesh added lets it reach further.
    """
    if name == "owner":
        return True
    if name == "prune":
        return bool(after)
    return after is None or (before is not None and not set(after) <= set(before))


def differences(before: Settings, after: Settings) -> list[tuple[str, Any, Any]]:
    """Settings whose value differs, as ``(document field, before, after)``: a diff shows them."""
    return [
        (name, before.json_value(attr), after.json_value(attr))
        for name, attr in _FIELDS.items()
        if before.json_value(attr) != after.json_value(attr)
    ]
