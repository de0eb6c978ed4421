"""Notices carry secrets (the GitHub token, a webhook URL): they go where they were sent, nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog

from reconciler.daemon.notify import GitHubStatus, Notifier, RunNotice, UnsafeUrl, check_url
from reconciler.daemon.status import RunResult
from reconciler.shutdown import Shutdown

from .helpers import eventually

SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "ghp_must_not_travel"


class Server:
    """A local HTTP server answering every request with one fixed status (and Location), recording each."""

    def __init__(self, status: int, location: str = "") -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                seen.append((self.command, self.path, dict(self.headers)))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.server.shutdown()


def _serve(servers: list[Server], status: int, location: str = "") -> Server:
    server = Server(status, location)
    servers.append(server)
    return server


def _outcome(notifier: Notifier, notice: RunNotice) -> list[dict[str, Any]]:
    """The notify.sent/notify.failed events of one notice, once its sending is over."""
    with structlog.testing.capture_logs() as logs:
        notifier.start()
        notifier.notice(notice)
        eventually(lambda: [e for e in logs if e["event"] in ("notify.sent", "notify.failed")], interval=0.02)
    return [e for e in logs if e["event"].startswith("notify.")]


def _notice() -> RunNotice:
    return RunNotice(SHA, RunResult.SUCCESS, {"create": 1}, [], "r-1")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_commit_status_never_carries_the_token_and_is_a_failure(
    servers: list[Server], status: int
) -> None:
    elsewhere = _serve(servers, 200)  # another port: another origin
    api = _serve(servers, status, f"{elsewhere.url}/steal")
    notifier = Notifier(Shutdown(), github=GitHubStatus("acme/manifests", TOKEN, api.url))
    events = _outcome(notifier, _notice())
    assert [e["event"] for e in events] == ["notify.failed"]
    assert events[0]["reason"] == f"HTTP {status} (redirect not followed)"
    assert len(api.requests) == 1
    assert api.requests[0][2]["Authorization"] == f"Bearer {TOKEN}"
    assert elsewhere.requests == []


def test_a_redirected_webhook_is_not_followed(servers: list[Server]) -> None:
    elsewhere = _serve(servers, 200)
    hook = _serve(servers, 307, f"{elsewhere.url}/hook")
    events = _outcome(Notifier(Shutdown(), webhook=f"{hook.url}/hook?token=secret"), _notice())
    assert [e["event"] for e in events] == ["notify.failed"]
    assert elsewhere.requests == []


def test_a_client_error_answer_is_a_failure_not_sent(servers: list[Server]) -> None:
    api = _serve(servers, 404)
    notifier = Notifier(Shutdown(), github=GitHubStatus("acme/manifests", TOKEN, api.url))
    events = _outcome(notifier, _notice())
    assert [(e["event"], e["reason"]) for e in events] == [("notify.failed", "HTTP 404")]


def test_a_2xx_answer_is_sent(servers: list[Server]) -> None:
    api = _serve(servers, 201)
    notifier = Notifier(Shutdown(), github=GitHubStatus("acme/manifests", TOKEN, api.url))
    assert [e["event"] for e in _outcome(notifier, _notice())] == ["notify.sent"]
    ((method, path, _),) = api.requests
    assert (method, path) == ("POST", f"/repos/acme/manifests/statuses/{SHA}")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.github.com",
        "http://github.example.com/api/v3",
        "http://127.0.0.1.example.com",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "https:///no-host",
    ],
)
def test_the_github_api_is_https_except_on_loopback(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        GitHubStatus("acme/manifests", TOKEN, url)


@pytest.mark.parametrize(
    "url", ["https://api.github.com", "http://127.0.0.1:8080", "http://localhost/api/v3", "http://[::1]:80"]
)
def test_https_and_loopback_are_accepted_for_the_github_api(url: str) -> None:
    check_url(url, carries_token=True)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:,x", "ftp://example.com/", "hook"])
def test_a_webhook_is_http_or_https(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        Notifier(Shutdown(), webhook=url)
    check_url("http://hooks.example.com/x", carries_token=False)  # a webhook may be plain http
