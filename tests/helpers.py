"""Small builders shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

API = "appmesh.reconciler/v1"


def gateway(
    name: str = "gw", mesh: str = "apps", port: int = 80, protocol: str = "http2", **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VirtualGateway",
        "metadata": {"name": name, "mesh": mesh, **meta},
        "spec": {"listeners": [{"portMapping": {"port": port, "protocol": protocol}}]},
    }


def route(
    name: str = "rt",
    *,
    gateway: str = "gw",
    mesh: str = "apps",
    prefix: str = "/",
    service: str = "svc.local",
    route_type: str = "http2Route",
    **meta: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "GatewayRoute",
        "metadata": {"name": name, "mesh": mesh, "virtualGateway": gateway, **meta},
        "spec": {
            route_type: {
                "action": {"target": {"virtualService": {"virtualServiceName": service}}},
                "match": {"prefix": prefix},
            }
        },
    }


def write_tree(root: Path, files: dict[str, Any]) -> Path:
    """Write files: bytes and str verbatim, a list of documents as multi-document YAML."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(yaml.safe_dump_all(content, sort_keys=False))
    return root
