"""Normalise and compare specs: nothing a user did not change may show as a change.

Absent, ``null``, empty objects and server defaults are one and the same; lists
whose order carries no meaning compare as sets. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .model import SERVER_DEFAULTS, UNORDERED_LISTS, without_server_fills


@dataclass(frozen=True)
class Change:
    """One changed field: ``before``/``after`` are None where the field is absent."""

    path: str
    before: Any
    after: Any


def canonical(value: Any, key: str = "") -> Any:
    """The comparable form of a spec value."""
    if isinstance(value, (dict, Mapping)):  # dict first: the ABC check of Mapping is slow
        out = {}
        for k in sorted(value):
            v = canonical(value[k], k)
            if v is None or v == {} or (k in SERVER_DEFAULTS and v == SERVER_DEFAULTS[k]):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        return sorted(items, key=_sort_key) if key in UNORDERED_LISTS else items
    return value


def canonical_spec(spec: Mapping[str, Any]) -> Any:
    """The comparable form of a whole spec, with what the service fills in by itself removed."""
    return canonical(without_server_fills(spec))


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def changes(before: Any, after: Any, path: str) -> list[Change]:
    """Differences between two canonical values, as leaf paths where that reads best."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[Change] = []
        for k in sorted(before.keys() | after.keys()):
            out += changes(before.get(k), after.get(k), f"{path}.{k}")
        return out
    last = path.rsplit(".", 1)[-1]
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and last not in UNORDERED_LISTS
    ):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += changes(b, a, f"{path}[{i}]")
        return out
    return [Change(path, before, after)]


def leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    """Every leaf of a value with its path: what a create or delete shows."""
    if isinstance(value, dict) and value:
        return [leaf for k in sorted(value) for leaf in leaves(value[k], f"{path}.{k}")]
    if isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, f"{path}[{i}]")]
    return [(path, value)]
