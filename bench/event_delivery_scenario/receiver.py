"""The site service under test: a receiver in its own process that verifies every delivery
with the Python SDK (Standard Webhooks) and notes when it arrived."""

from __future__ import annotations

import http.server
import json
import multiprocessing
import queue
import time
from dataclasses import dataclass
from typing import Any

from entitlements_client import EventVerificationError
from entitlements_client.events import verify_event


@dataclass(frozen=True)
class Arrival:
    """One verified delivery: the event's account and sequence, its id, when it arrived."""

    account_id: str
    sequence: int
    message_id: str
    at: float


def serve(secret: str, port: int, out: Any, ready: Any) -> None:
    """Answer deliveries on 127.0.0.1:`port` until killed; put an Arrival (or an error
    string) on `out` for each."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            arrived = time.time()
            try:
                event = verify_event(dict(self.headers.items()), body, secret)
                data = json.loads(body)["data"]
                out.put(Arrival(str(event.account_id), int(data["sequence"]), event.id, arrived))
                status = 204
            except (EventVerificationError, KeyError, ValueError) as error:
                out.put(f"refused: {type(error).__name__}: {error}")
                status = 400
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            """No access log: it would cost the receiver more than the work."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever(poll_interval=0.1)


@dataclass
class Receiver:
    """The receiver process and what it reported so far."""

    process: multiprocessing.process.BaseProcess
    queue: Any
    arrivals: list[Arrival]
    refused: list[str]

    def collect(self) -> None:
        """Move what the process reported into `arrivals` and `refused`."""
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Arrival):
                self.arrivals.append(item)
            else:
                self.refused.append(item)

    def wait_for(self, wanted: set[tuple[str, int]], timeout: float) -> bool:
        """Collect until every (account, sequence) in `wanted` arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self.collect()
            seen = {(a.account_id, a.sequence) for a in self.arrivals}
            if wanted <= seen:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def stop(self) -> None:
        """End the process."""
        self.process.terminate()
        self.process.join(timeout=10)


def start_receiver(secret: str, port: int) -> Receiver:
    """Start the receiver process; return once it listens."""
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    ready = context.Event()
    process = context.Process(target=serve, args=(secret, port, reports, ready), daemon=True)
    process.start()
    if not ready.wait(30):
        process.terminate()
        raise RuntimeError("the receiver did not start")
    return Receiver(process, reports, [], [])
