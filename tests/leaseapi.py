"""A stand-in for the Kubernetes Lease API (coordination.k8s.io/v1) on 127.0.0.1.

It answers the calls the official client makes for a Lease the way kube-apiserver does:
GET (200, or 404 with a Status), POST (201, or 409 AlreadyExists), PUT (200; 409
Conflict when the body's metadata.resourceVersion is not the stored one; 404 when there
is nothing to replace), each write bumping resourceVersion. It does not check
authentication, RBAC, admission, the schema beyond the members read here, or watch.
Every stored write is kept in ``history`` with the server's clock, for the tests.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_PATH = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/leases(?:/(?P<name>[^/?]+))?")


@dataclass
class Write:
    at: float  # time.monotonic() when stored
    method: str
    holder: str | None
    resource_version: str


@dataclass
class LeaseServer:
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    history: list[Write] = field(default_factory=list)
    stall: float = 0.0  # seconds every write waits before it is handled (a slow apiserver)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> LeaseServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._answer(self, "GET")

            def do_POST(self) -> None:
                owner._answer(self, "POST")

            def do_PUT(self) -> None:
                owner._answer(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
                    "users": [{"name": "test", "user": {"token": "not-checked"}}],
                    "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "test"}}],
                    "current-context": "standin",
                }
            )
        )
        return path

    def holder(self, namespace: str, name: str) -> str | None:
        with self.lock:
            lease = self.leases.get((namespace, name))
            return None if lease is None else lease.get("spec", {}).get("holderIdentity")

    def force(self, namespace: str, name: str, holder: str) -> None:
        """Someone else writes the Lease (another controller, a person with kubectl)."""
        with self.lock:
            lease = self.leases[(namespace, name)]
            lease["spec"]["holderIdentity"] = holder
            self._store(namespace, name, lease, "PUT")

    def writes_by(self, holder: str | None) -> list[Write]:
        with self.lock:
            return [w for w in self.history if w.holder == holder]

    # --- the API -----------------------------------------------------------------

    def _answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        match = _PATH.match(request.path)
        if match is None:
            _send(request, 404, _status(404, "NotFound", f"{request.path} is not served here"))
            return
        namespace, name = match["ns"], match["name"]
        body = None
        if method in ("POST", "PUT"):
            length = int(request.headers.get("Content-Length") or 0)
            body = json.loads(request.rfile.read(length) or b"{}")
            if self.stall:
                time.sleep(self.stall)
        with self.lock:
            code, answer = self._handle(method, namespace, name, body)
        _send(request, code, answer)

    def _handle(self, method: str, namespace: str, name: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        if method == "POST":
            name = body.get("metadata", {}).get("name")
            if (namespace, name) in self.leases:
                return 409, _status(
                    409, "AlreadyExists", f'leases.coordination.k8s.io "{name}" already exists'
                )
            return 201, self._store(namespace, str(name), body, method)
        stored = self.leases.get((namespace, str(name)))
        if stored is None:
            return 404, _status(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found')
        if method == "GET":
            return 200, stored
        if body.get("metadata", {}).get("name") != name:
            return 400, _status(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        sent = body.get("metadata", {}).get("resourceVersion")
        if sent and sent != stored["metadata"]["resourceVersion"]:
            message = (
                f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again"
            )
            return 409, _status(409, "Conflict", message)
        return 200, self._store(namespace, str(name), body, method)

    def _store(self, namespace: str, name: str, lease: dict[str, Any], method: str) -> dict[str, Any]:
        self._version += 1
        lease = json.loads(json.dumps(lease))
        metadata = lease.setdefault("metadata", {})
        metadata.update({"name": name, "namespace": namespace, "resourceVersion": str(self._version)})
        lease.update({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"})
        self.leases[(namespace, name)] = lease
        holder = lease.get("spec", {}).get("holderIdentity")
        self.history.append(Write(time.monotonic(), method, holder, str(self._version)))
        return lease


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _send(request: BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    request.send_response(code)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
