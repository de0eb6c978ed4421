"""Prometheus metrics (prometheus_client) and the /healthz, /readyz, /metrics endpoints.

Names and labels are part of the README's contract; change them only on purpose.

The probe server is a good citizen of the pod: what goes wrong with a client (a
disconnect mid-answer, a connection left idle) is a structlog event, never a stdlib
traceback on stderr; an idle connection is closed after ``IDLE_TIMEOUT``; and the
listen backlog takes a burst of probes and scrapes without refusing any.

Whoever can reach the port reads the probes, so by default they say what state the
daemon is in, not why: error texts (an API error names the account and the role
session; a manifest error quotes the manifests) and mesh owners' account IDs are
withheld, and stay in the logs; ``--status-detail`` shows them.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

log = structlog.get_logger("reconciler.probes")

IDLE_TIMEOUT = 5.0  # seconds a connection may wait for its request or a client may take to read
BACKLOG = 128  # connections waiting to be accepted (the socket module's default is 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "reconciler_reconciles",
            "Reconcile runs by result (success, failure, invalid, suspended).",
            ["result"],
            registry=r,
        )
        self.duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Wall time of one reconcile run.",
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
        )
        self.actions = Counter(
            "reconciler_plan_actions",
            "Planned actions by type (create, update, tag, delete).",
            ["action"],
            registry=r,
        )
        self.api_calls = Counter(
            "reconciler_api_calls",
            "App Mesh API calls by operation and HTTP status code.",
            ["operation", "code"],
            registry=r,
        )
        self.retries = Counter(
            "reconciler_api_retries", "Retried API calls by error code.", ["code"], registry=r
        )
        self.throttles = Counter(
            "reconciler_api_throttles", "API answers that were 429 (throttled).", registry=r
        )
        self.drift = Counter(
            "reconciler_drift_corrections", "Changes applied while the manifests had not changed.", registry=r
        )
        self.manifest_errors = Gauge(
            "reconciler_manifest_errors", "Errors in the latest manifest snapshot (0 when valid).", registry=r
        )
        self.last_success = Gauge(
            "reconciler_last_success_timestamp_seconds",
            "Unix time of the last successful reconcile.",
            registry=r,
        )
        self.last_result = Gauge(
            "reconciler_last_run_result",
            "1 for the result of the last finished run (success, failure, invalid, suspended), "
            "0 for the others.",
            ["result"],
            registry=r,
        )
        self.applied_revision = Info(
            "reconciler_applied_revision",
            "The revision of the manifests last applied successfully (a git sha, a ConfigMap "
            "timestamp, or sha256: of the content).",
            registry=r,
        )
        self.suspended = Gauge(
            "reconciler_suspended",
            "1 while the tree's settings say suspend: plans only, no writes.",
            registry=r,
        )
        self.leader = Gauge(
            "reconciler_leader",
            "1 while this replica holds the Lease and may write (always 1 without --leader-elect).",
            registry=r,
        )
        self.watcher_restarts = Counter(
            "reconciler_watcher_restarts", "Times the file watcher was found dead and restarted.", registry=r
        )

    def api_call(self, operation: str, status: int) -> None:
        self.api_calls.labels(operation, str(status)).inc()
        if status == 429:
            self.throttles.inc()


Probe = Callable[[], tuple[bool, dict[str, Any]]]

WITHHELD = "withheld: see the daemon's logs (or run it with --status-detail)"
_ERROR_KEYS = ("error", "lastError")


class AddressUnavailable(Exception):
    """The probe server cannot listen where it was told to."""


def public(detail: dict[str, Any]) -> dict[str, Any]:
    """A probe's answer without error texts or account IDs; the same keys and types."""
    out = dict(detail)
    for key in _ERROR_KEYS:
        if out.get(key):
            out[key] = WITHHELD
    if out.get("errors"):
        out["errors"] = [f"{len(out['errors'])} error(s) {WITHHELD}"]
    if "resources" in out:
        out["resources"] = [_anonymous(resource) for resource in out["resources"]]
    return out


def _anonymous(resource: dict[str, Any]) -> dict[str, Any]:
    identity = resource.get("identity", {})
    owner = identity.get("meshOwner")
    if not owner:
        return resource
    address = str(resource["address"]).replace(f"@{owner}/", "@withheld/", 1)
    return {**resource, "identity": {**identity, "meshOwner": "withheld"}, "address": address}


def serve(
    address: str, metrics: Metrics, probes: dict[str, Probe], *, detail: bool = False
) -> ThreadingHTTPServer:
    """Serve /metrics and each probe (path → 200 or 503 with JSON) on ``host:port``."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        timeout = IDLE_TIMEOUT

        def do_GET(self) -> None:
            """``/metrics``, or a probe's JSON (its details withheld unless ``--status-detail``); else 404."""
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path in probes:
                ok, answer = probes[path]()
                body = json.dumps({"ok": ok, **(answer if detail else public(answer))}).encode()
                self._send(200 if ok else 503, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # probes every few seconds are not news
            return

        def log_error(self, format: str, *args: Any) -> None:
            log.debug("probes.client_error", detail=format % args)

    try:
        server = _Server((host or "0.0.0.0", int(port)), Handler)
    except OSError as exc:  # in use, not an address of this host, not allowed
        raise AddressUnavailable(f"--metrics-addr {address}: {exc.strerror or exc}") from None
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG

    def handle_error(self, _request: Any, _client_address: Any) -> None:
        """A client that went away mid-answer: an event, not a traceback on stderr."""
        error = sys.exc_info()[1]
        log.debug("probes.client_error", error=type(error).__name__, detail=str(error)[:200])
