"""A local App Mesh: moto's server on 127.0.0.1, behind the realism layer (``realism.py``).

Needs the ``sandbox`` extra (moto[server]). Not imported by the engine.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .control import Control
from .realism import Realism, RealismLayer, Stats


class Sandbox:
    """moto's App Mesh on 127.0.0.1 (a free port unless given), behind the realism layer."""

    def __init__(self, realism: Realism | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self._realism = realism or Realism()
        self.stats = Stats()
        self.host = host
        self.port = port
        self._server: Any = None
        self._app: RealismLayer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def realism(self) -> Realism:
        """The realism in force (the control API may have changed it)."""
        return self._app.realism if self._app is not None else self._realism

    @property
    def control(self) -> Control:
        """The control API's client, as another process would drive this sandbox."""
        return Control(self.endpoint)

    def start(self) -> Sandbox:
        """Serve moto behind the realism layer in a daemon thread, answering only its own Host."""
        try:
            from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the sandbox needs moto: pip install 'appmesh-gateway-reconciler[sandbox]'"
            ) from exc
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per call is noise
        self._app = RealismLayer(DomainDispatcherApplication(create_backend_app), self._realism, self.stats)
        self._server = make_server(
            self.host, self.port, self._app, threaded=True, request_handler=MotoRequestHandler
        )
        self.port = self._server.server_address[1]
        self._app.hosts = frozenset({f"{self.host}:{self.port}", f"localhost:{self.port}"})
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox", daemon=True)
        self._thread.start()
        return self

    def reset(self) -> None:
        """Empty moto's state (it is global to the process), the counters and the token memory."""
        self.control.reset()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
