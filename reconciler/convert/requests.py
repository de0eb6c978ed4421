"""A request at a gateway and what a gateway does with it: the common language of the two models.

``appmesh_model`` and ``gwapi_model`` each answer the same ``Request`` with ``Routing``s, so
``equivalence`` can put the two answers side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

GRPC_CONTENT_TYPE = "application/grpc"


@dataclass(frozen=True, order=True)
class Request:
    """One request as it reaches the gateway's listener on ``port``.

    For gRPC, ``path`` is ``/<service>/<method>`` and the method ``POST`` (the gRPC over
    HTTP/2 protocol), and ``host`` is the ``:authority``; ``headers`` are the metadata.
    """

    port: int
    host: str
    path: str  # with the query string, if any
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    grpc: bool = False

    @property
    def bare_path(self) -> str:
        return self.path.split("?", 1)[0]

    @property
    def query_string(self) -> str:
        return self.path.partition("?")[2]

    def query(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (the value proxies are recommended to use)."""
        return next((v for k, v in parse_qsl(self.query_string, keep_blank_values=True) if k == name), None)

    def header(self, name: str) -> str | None:
        """The first value of a header; names are case-insensitive (RFC 7230 section 3.2)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def service(self) -> str:
        """The gRPC service: the first path element."""
        return self.bare_path.lstrip("/").split("/", 1)[0]

    @property
    def grpc_method(self) -> str:
        return self.bare_path.lstrip("/").partition("/")[2]

    def with_(self, **changes: Any) -> Request:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The request in the JSON report, in gRPC's terms (authority, service, metadata) for gRPC."""
        out: dict[str, Any] = {"port": self.port, "host": self.host, "method": self.method, "path": self.path}
        if self.grpc:
            out = {
                "port": self.port,
                "authority": self.host,
                "service": self.service,
                "method": self.grpc_method,
            }
            out["metadata"] = dict(self.headers)
        else:
            out["headers"] = dict(self.headers)
        return out

    def __str__(self) -> str:
        extra = " ".join(f"{k}: {v}" for k, v in self.headers if k.lower() != "content-type")
        head = f":{self.port} {self.host} " + (
            f"grpc {self.bare_path}" if self.grpc else f"{self.method} {self.path}"
        )
        return f"{head} {extra}".rstrip()


@dataclass(frozen=True)
class Routing:
    """Where a gateway sends a request (``route`` None: no route matched, a 404) and as what."""

    route: str | None  # the App Mesh address of the gateway route (Gateway API: the one it came from)
    destination: str | None = None  # App Mesh: virtual service[:port]; Gateway API: namespace/Service:port
    path: str | None = None  # the path (and query) as forwarded
    host: str | None = None  # the Host or :authority as forwarded

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "destination": self.destination, "path": self.path, "host": self.host}

    def __str__(self) -> str:
        if self.route is None:
            return "no route (404)"
        return f"{self.destination} {self.path} Host {self.host}"
