"""Tell people how a run went: a webhook, and a GitHub commit status on the applied revision.

Sending happens on one background thread fed by a bounded queue, so a slow or failing
receiver never holds up reconciling: each message gets a few attempts with backoff,
then is dropped (and counted in the logs). The webhook URL and the GitHub token are
secrets: they come from flags or the environment, never from the manifests, and are
never logged. They go only where they were sent: no redirect is ever followed
(urllib's default handler would repeat the ``Authorization`` header to any host the
answer names, on any scheme), only http(s) is spoken, and the GitHub token never
travels over plain http except to loopback.
"""

from __future__ import annotations

import ipaddress
import json
import queue
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from ..shutdown import Shutdown
from .options import DEFAULT_GITHUB_API, DEFAULT_STATUS_CONTEXT
from .status import RunResult

log = structlog.get_logger("reconciler.notify")

ATTEMPTS = 3
BACKOFF = 1.0  # seconds before the second attempt; doubled for the third
TIMEOUT = 5.0
QUEUE_SIZE = 100
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class RunNotice:
    """What a run did, as a notification says it."""

    revision: str
    result: RunResult | None  # None: sent before applying a new revision (GitHub: "pending")
    counts: Mapping[str, int]
    failing: list[str]
    reconcile_id: str

    @property
    def pending(self) -> bool:
        return self.result is None

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "result": self.result.value if self.result is not None else "",
            "counts": dict(self.counts),
            "failing": self.failing,
            "reconcileId": self.reconcile_id,
        }


class UnsafeUrl(ValueError):
    """A notice URL that would carry a secret somewhere it could leak."""


@dataclass(frozen=True)
class GitHubStatus:
    repository: str  # owner/name
    token: str
    api_url: str = DEFAULT_GITHUB_API
    context: str = DEFAULT_STATUS_CONTEXT

    def __post_init__(self) -> None:
        check_url(self.api_url, carries_token=True)


def check_url(url: str, *, carries_token: bool) -> None:
    """Refuse a URL a secret must not be sent to: not http(s), or a token over plain http off loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("must be an http:// or https:// URL with a host")
    if carries_token and parts.scheme == "http" and not _loopback(parts.hostname):
        raise UnsafeUrl("would send the token in clear text: use https:// (http:// only for loopback)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: the 3xx surfaces as an HTTPError, a failed notice."""

    def redirect_request(self, *_: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    """http(s) only (no file:, ftp:, data:), redirects refused, non-2xx raised."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        _NoRedirect(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


_OPENER = _opener()


@dataclass(frozen=True)
class _Message:
    kind: str  # "webhook" or "github" — only for the logs
    url: str
    body: dict[str, Any]
    headers: Mapping[str, str]


class Notifier:
    """Sends notices in the background; ``notice`` never blocks."""

    def __init__(self, shutdown: Shutdown, webhook: str = "", github: GitHubStatus | None = None) -> None:
        if webhook:
            check_url(webhook, carries_token=False)
        self.webhook = webhook
        self.github = github
        self.shutdown = shutdown
        self._queue: queue.Queue[_Message] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.webhook or self.github)

    def start(self) -> None:
        if self.enabled:
            self._thread = threading.Thread(target=self._send_all, name="notify", daemon=True)
            self._thread.start()

    def notice(self, notice: RunNotice) -> None:
        for message in self._messages(notice):
            try:
                self._queue.put_nowait(message)
            except queue.Full:
                log.warning("notify.dropped", kind=message.kind, reason="too many notices waiting")

    def _messages(self, notice: RunNotice) -> list[_Message]:
        out = []
        if self.webhook and not notice.pending:
            headers = {"Content-Type": "application/json"}
            out.append(_Message("webhook", self.webhook, notice.as_json(), headers))
        github = self.github
        if github is not None and _COMMIT.fullmatch(notice.revision):
            state = (
                "pending"
                if notice.pending
                else ("success" if notice.result is RunResult.SUCCESS else "failure")
            )
            description = _describe(notice)
            url = f"{github.api_url.rstrip('/')}/repos/{github.repository}/statuses/{notice.revision}"
            headers = {
                "Authorization": f"Bearer {github.token}",
                "Accept": "application/vnd.github+json",
                "Content-Type": "application/json",
            }
            body = {"state": state, "context": github.context, "description": description}
            out.append(_Message("github", url, body, headers))
        return out

    def _send_all(self) -> None:
        while True:
            message = self._queue.get()
            self._send(message)

    def _send(self, message: _Message) -> None:
        data = json.dumps(message.body).encode()
        headers = dict(message.headers)
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(message.url, data=data, headers=headers, method="POST")
            final = attempt == ATTEMPTS
            try:
                with _OPENER.open(request, timeout=TIMEOUT) as answer:
                    answer.read()
                log.info("notify.sent", kind=message.kind, attempt=attempt)
                return
            except urllib.error.HTTPError as exc:  # the URL is a secret: log the status only
                reason = f"HTTP {exc.code}" + (" (redirect not followed)" if 300 <= exc.code < 400 else "")
                final = final or (exc.code < 500 and exc.code != 429)  # a client error will not get better
            except (OSError, ValueError) as exc:
                reason = type(exc).__name__
            if final or self.shutdown.wait(BACKOFF * 2 ** (attempt - 1)):
                log.warning("notify.failed", kind=message.kind, attempts=attempt, reason=reason)
                return


def _describe(notice: RunNotice) -> str:
    if notice.pending:
        return "applying this revision"
    counts = ", ".join(f"{n} {action}" for action, n in notice.counts.items() if n and action != "no-op")
    text = f"{notice.result}: {counts or 'no changes'}"
    if notice.failing:
        text += f"; failing: {', '.join(notice.failing[:3])}"
    return text[:140]  # GitHub's limit for a status description
