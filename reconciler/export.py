"""Live resources → manifests: adopt what exists, or archive a mesh's configuration.

One file per gateway, holding the gateway and then its routes; keys in a stable
order, no server-filled nulls or defaults, no ``aws:`` tags and no owner tag (the
reconciler adds that itself), so the files round-trip to a plan with no changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .diff import canonical
from .model import API_VERSION, OWNER_TAG
from .plan import comparable_tags
from .resources import GATEWAY, ROUTE, Key, Live


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
        metadata["tags"] = dict(sorted(tags.items()))
    return {"apiVersion": API_VERSION, "kind": key.kind, "metadata": metadata, "spec": canonical(live.spec)}


def write(live: Mapping[Key, Live], directory: Path) -> list[Path]:
    """Write ``<dir>/<mesh>/<gateway>.yaml`` per gateway; returns the files written."""
    written = []
    gateways = sorted(k for k in live if k.kind == GATEWAY)
    for gateway in gateways:
        routes = sorted(k for k in live if k.parent == gateway)
        docs = [document(live[gateway])] + [document(live[k]) for k in routes]
        path = directory / str(gateway.scope) / f"{gateway.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"# Exported from App Mesh mesh {gateway.scope}, virtual gateway {gateway.name}.\n"
        path.write_text(header + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False))
        written.append(path)
    return written
