"""Live resources → manifests: adopt what exists, or archive a mesh's configuration.

One file per gateway, holding the gateway and then its routes. The spec is written
exactly as the API returned it (list order, explicit defaults, empty objects), so an
export plans as no change and can be applied to another mesh as it stands; only the
``aws:`` tags and the owner tag (the reconciler adds that itself) are left out.
File names, the YAML written and where it may go are ``files``' rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import safe_names, write_files
from .model import API_VERSION, OWNER_TAG
from .plan import comparable_tags
from .resources import GATEWAY, ROUTE, Key, Live

HEADER = "# Exported from App Mesh by `reconcile export`.\n"


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


def plan_files(live: Mapping[Key, Live], directory: Path) -> dict[Path, list[dict[str, Any]]]:
    """``<dir>/<mesh>/<gateway>.yaml`` per gateway, with its documents; names made safe."""
    gateways = sorted((k for k in live if k.kind == GATEWAY), key=Key.rank)
    routes: dict[Key, list[Key]] = defaultdict(list)
    for key in sorted((k for k in live if k.kind == ROUTE), key=Key.rank):
        routes[Key.gateway_key(key.scope, key.gateway)].append(key)
    meshes = safe_names(sorted({str(k.scope) for k in gateways}))
    files: dict[Path, list[dict[str, Any]]] = {}
    for scope in sorted({k.scope for k in gateways}):
        in_mesh = [k for k in gateways if k.scope == scope]
        names = safe_names([k.name for k in in_mesh])
        for gateway in in_mesh:
            path = directory / meshes[str(scope)] / f"{names[gateway.name]}.yaml"
            files[path] = [document(live[gateway])] + [document(live[k]) for k in routes[gateway]]
    return files


def write(live: Mapping[Key, Live], directory: Path, *, force: bool = False) -> list[Path]:
    """Write every live resource as manifests under ``directory`` (see ``write_files``)."""
    return write_files(plan_files(live, directory), directory, HEADER, force=force)
