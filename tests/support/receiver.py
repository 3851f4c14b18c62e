"""A local webhook receiver (http.server on 127.0.0.1) that answers as a test scripts it."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Received:
    """One request the receiver saw."""

    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """What the receiver saw, and how it answers next (a status per request, then 204)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    stall: threading.Event | None = None  # when given, each request waits until it is set
    received: list[Received] = field(default_factory=list)
    on_request: Callable[[Received], int | None] | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived (or fail after `timeout` seconds)."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        assert ok, f"{len(self.received)} of {count} requests arrived"
        return self.received


@contextlib.contextmanager
def receiver() -> Iterator[Receiver]:
    """Run a receiver until the block ends."""
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            got = Received(dict(self.headers.items()), self.rfile.read(length), time.time())
            with state.arrived:
                state.received.append(got)
                state.arrived.notify_all()
            if state.stall is not None:
                state.stall.wait(30)
            status = state.on_request(got) if state.on_request else None
            if status is None:
                status = state.statuses.pop(0) if state.statuses else 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/events"
    try:
        yield state
    finally:
        if state.stall is not None:
            state.stall.set()
        server.shutdown()
        server.server_close()
