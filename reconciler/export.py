"""Live resources → manifests: adopt what exists, or archive a mesh's configuration.

One file per gateway, holding the gateway and then its routes. The spec is written
exactly as the API returned it (list order, explicit defaults, empty objects), so an
export plans as no change and can be applied to another mesh as it stands; only the
``aws:`` tags and the owner tag (the reconciler adds that itself) are left out.

The YAML reads the same to YAML 1.1 readers (PyYAML) and YAML 1.2 readers (ruamel,
yq, editors): every string a 1.2 core-schema reader would take for a number, a
boolean or null is quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .model import API_VERSION, OWNER_TAG
from .plan import comparable_tags
from .resources import GATEWAY, ROUTE, Key, Live

HEADER = "# Exported from App Mesh by `reconcile export`.\n"

# YAML 1.2 core schema (spec 10.3.2): the plain scalars that do not resolve to a string.
_CORE_SCHEMA_NON_STRING = re.compile(
    r"""null|Null|NULL|~
    |true|True|TRUE|false|False|FALSE
    |[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+
    |[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    |[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)""",
    re.VERBOSE,
)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting what YAML 1.1 *or* 1.2 would not read as a string."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "'" if _CORE_SCHEMA_NON_STRING.fullmatch(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(documents: list[dict[str, Any]]) -> str:
    """Documents as YAML that YAML 1.1 and 1.2 readers load to the same data."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def document(live: Live) -> dict[str, Any]:
    """One manifest document for a live resource."""
    key = live.key
    metadata: dict[str, Any] = {"name": key.name, "mesh": key.scope.mesh}
    if key.scope.owner:
        metadata["meshOwner"] = key.scope.owner
    if key.kind == ROUTE:
        metadata["virtualGateway"] = key.gateway
    tags = {k: v for k, v in comparable_tags(live.tags or {}).items() if k != OWNER_TAG}
    if tags:
        metadata["tags"] = tags
    spec = _as_returned(live.spec)
    return {"apiVersion": API_VERSION, "kind": key.kind, "metadata": metadata, "spec": spec}


def _as_returned(value: Any) -> Any:
    """The API's answer less JSON nulls (absent and null mean the same to the API)."""
    if isinstance(value, Mapping):
        return {k: _as_returned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_as_returned(v) for v in value]
    return value


def write(live: Mapping[Key, Live], directory: Path) -> list[Path]:
    """Write ``<dir>/<mesh>/<gateway>.yaml`` per gateway; returns the files written."""
    written = []
    gateways = sorted(k for k in live if k.kind == GATEWAY)
    for gateway in gateways:
        routes = sorted(k for k in live if k.parent == gateway)
        docs = [document(live[gateway])] + [document(live[k]) for k in routes]
        path = directory / str(gateway.scope) / f"{gateway.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER + dump(docs))
        written.append(path)
    return written
