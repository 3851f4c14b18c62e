"""Run the emulator on a local port in a background thread (for tests and the demo)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import cast

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devstripe.app import create_emulator, refuse_production
from devstripe.persist import StateFile
from devstripe.state import EmulatorState
from devstripe.store import WallClock


class QuietRequestHandler(WSGIRequestHandler):
    """Request handler that does not log every request (tests make hundreds)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log line."""


class EmulatorServer:
    """A threaded werkzeug server for the emulator app on 127.0.0.1."""

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        public_url: str | None = None,
        webhook_endpoints: Sequence[tuple[str, str]] = (),
        seed: bool = True,
        cancel_behavior: str = "canceled",
        log_requests: bool = False,
        state_path: str | os.PathLike[str] | None = None,
        wall_clock: WallClock = time.time,
    ) -> None:
        refuse_production()
        self.app: Flask = create_emulator(
            public_url=public_url,
            webhook_endpoints=webhook_endpoints,
            seed=seed,
            cancel_behavior=cancel_behavior,
            state_path=state_path,
            wall_clock=wall_clock,
        )
        self.state = cast(EmulatorState, self.app.extensions["devstripe"])
        handler = WSGIRequestHandler if log_requests else QuietRequestHandler
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=handler
        )
        self.host = host
        self.port = int(self._server.server_port)
        self.url = f"http://{host}:{self.port}"
        if self.state.public_url is None:
            self.state.public_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        """Start serving in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # so stop() returns quickly
                name="devstripe-http",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and stop webhook delivery; write the state file a last time."""
        self.state.shutdown()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        state_file = self.app.extensions.get("devstripe_file")
        if isinstance(state_file, StateFile):
            # Deliveries finished since the last request changed what events still owe.
            state_file.save(self.state)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
