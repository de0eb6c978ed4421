"""The one client of the sandbox's control API (``/_sandbox/...``), for tests and the benchmark.

A sandbox in another process (``reconcile sandbox``) is driven the same way as one in
this process: reset, read the counters, change the realism.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from .realism import CONTROL, Realism


class ControlRefused(Exception):
    """The sandbox answered a control request with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Control:
    """``reset``, ``stats`` and ``realism`` of the sandbox at ``endpoint``."""

    def __init__(self, endpoint: str, headers: Mapping[str, str] | None = None, timeout: float = 30) -> None:
        self.endpoint = endpoint
        self.headers = dict(headers or {})
        self.timeout = timeout

    def call(self, command: str, body: Mapping[str, Any] | None = None) -> Any:
        """One request: POST with a JSON body, GET without; ``ControlRefused`` on an error status."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}{CONTROL}{command}",
            data=data,
            method="POST" if data is not None else "GET",
            headers=self.headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ControlRefused(exc.code, str(json.loads(exc.read()).get("message", ""))) from None

    def reset(self) -> None:
        """Empty App Mesh, the counters and the client-token memory."""
        self.call("reset", {})

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("stats")
        return answer

    def realism(self, **change: Any) -> Realism:
        """Change some fields of the realism (none: read it); the realism now in force."""
        return Realism.model_validate(self.call("realism", change))

    def set_realism(self, realism: Realism) -> Realism:
        """Replace the whole realism."""
        return self.realism(**realism.model_dump())
