"""An HTTP/1.1 load generator on raw sockets, and nearest-rank percentiles.

The generator runs in worker processes (see `run_load`), each multiplexing its share of the
connections with `selectors`, so one Python process keeps several requests in flight without
threads. It speaks HTTP/1.1 and asks for keep-alive; when the server answers
`Connection: close` (gunicorn's sync workers always do) it reads to EOF, lets the server close
first and opens a new connection for the next request. Latency is measured from the start of a
request's connect (or its send, on a reused connection) to its last byte, so every target pays
the same connection cost and ratios compare like with like.
"""

from __future__ import annotations

import errno
import math
import os
import selectors
import signal
import socket
import time
from array import array
from dataclasses import dataclass, field

# How many error messages a load worker keeps as samples.
_ERROR_SAMPLES = 5
_RECV = 65536


@dataclass
class LoadResult:
    """What one load worker saw: latencies (s) of good responses inside the window, errors."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    completed_late: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    reused: int = 0
    cpu_seconds: float = 0.0
    elapsed: float = 0.0

    def add_error_sample(self, message: str) -> None:
        """Keep a few distinct error messages."""
        if len(self.error_samples) < _ERROR_SAMPLES and message not in self.error_samples:
            self.error_samples.append(message)

    def merge(self, other: LoadResult) -> None:
        """Add another worker's result into this one."""
        self.latencies.extend(other.latencies)
        self.completed_late += other.completed_late
        self.errors += other.errors
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        for sample in other.error_samples:
            self.add_error_sample(sample)
        self.reused += other.reused
        self.cpu_seconds += other.cpu_seconds
        self.elapsed = max(self.elapsed, other.elapsed)


def build_request(
    method: str,
    path: str,
    *,
    host: str,
    port: int,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    """Return the bytes of one HTTP/1.1 request asking for keep-alive."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class _Head:
    """The parts of a response head the generator needs."""

    status: int
    length: int | None
    close: bool
    body_start: int


def _parse_head(buf: bytes | bytearray) -> _Head | None:
    """Parse a response head once it is complete; None while more bytes are needed."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = int(rest[:3])
    length: int | None = None
    close = version != "HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection":
            directive = value.strip().lower()
            close = directive == "close" or (close and directive != "keep-alive")
    return _Head(status, length, close, end + 4)


class _Conn:
    """One in-flight request slot: its socket and the state of the current exchange."""

    __slots__ = ("buf", "deadline", "fresh", "head", "sent", "sock", "started")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.sent = 0
        self.started = 0.0
        self.deadline = 0.0
        self.head: _Head | None = None
        self.fresh = True


@dataclass(frozen=True)
class LoadJob:
    """One load worker's share of a run: where to send what, how many in flight, and when."""

    host: str
    port: int
    request: bytes
    expect: int
    connections: int
    start_at: float  # time.monotonic() at which the window opens (shared by all workers)
    seconds: float
    timeout: float = 10.0


class _Worker:
    """The event loop of one load worker process."""

    def __init__(self, job: LoadJob) -> None:
        self.job = job
        self.result = LoadResult()
        self.selector = selectors.DefaultSelector()
        self.conns = [_Conn() for _ in range(max(job.connections, 1))]
        self.window_end = float("inf")

    def fail(self, conn: _Conn, message: str) -> None:
        """Count an error, keep a sample of it and drop the connection."""
        self.result.errors += 1
        self.result.add_error_sample(message)
        self.drop(conn)

    def drop(self, conn: _Conn) -> None:
        """Close the connection's socket, if it has one."""
        if conn.sock is not None:
            self.selector.unregister(conn.sock)
            conn.sock.close()
            conn.sock = None

    def begin(self, conn: _Conn) -> None:
        """Start the next request on `conn`, reusing its socket if the server kept it open."""
        conn.buf.clear()
        conn.sent = 0
        conn.head = None
        conn.started = time.perf_counter()
        conn.deadline = conn.started + self.job.timeout
        if conn.sock is not None:
            conn.fresh = False
            self.result.reused += 1
            self.selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
            return
        conn.fresh = True
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((self.job.host, self.job.port))
        conn.sock = sock
        self.selector.register(sock, selectors.EVENT_WRITE, conn)
        if code not in (0, errno.EINPROGRESS):
            self.fail(conn, f"connect: {os.strerror(code)}")

    def finish(self, conn: _Conn, now: float) -> None:
        """Record a complete response; keep the socket only if the server keeps it open."""
        head = conn.head
        assert head is not None
        statuses = self.result.statuses
        statuses[head.status] = statuses.get(head.status, 0) + 1
        if head.status != self.job.expect:
            body = bytes(conn.buf[head.body_start : head.body_start + 200])
            self.fail(conn, f"status {head.status}: {body.decode('utf-8', 'replace')}")
            return
        if now <= self.window_end:
            self.result.latencies.append(now - conn.started)
        else:
            self.result.completed_late += 1
        if head.close or now > self.window_end:
            self.drop(conn)
        else:
            self.begin(conn)

    def send(self, conn: _Conn, sock: socket.socket) -> None:
        """Finish connecting, then send (the rest of) the request."""
        if conn.sent == 0 and conn.fresh:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.fail(conn, f"connect: {os.strerror(code)}")
                return
        request = self.job.request
        try:
            conn.sent += sock.send(request[conn.sent :])
        except OSError as exc:
            self.fail(conn, f"send: {exc}")
            return
        if conn.sent >= len(request):
            self.selector.modify(sock, selectors.EVENT_READ, conn)

    def receive(self, conn: _Conn, sock: socket.socket) -> None:
        """Read what arrived; finish the exchange once the response is complete."""
        try:
            chunk = sock.recv(_RECV)
        except OSError as exc:
            self.fail(conn, f"recv: {exc}")
            return
        if chunk:
            conn.buf += chunk
            if conn.head is None:
                conn.head = _parse_head(conn.buf)
            head = conn.head
            if (
                head is None
                or head.close  # Connection: close: wait for the server's EOF
                or head.length is None
                or len(conn.buf) < head.body_start + head.length
            ):
                return
        elif conn.head is None:
            self.fail(conn, "connection closed before a complete response head")
            return
        self.finish(conn, time.perf_counter())

    def poll(self, wait: float) -> None:
        """Wait up to `wait` seconds (at most 0.5) for socket events and handle them."""
        for key, events in self.selector.select(timeout=min(max(wait, 0.0), 0.5)):
            conn = key.data
            if conn.sock is None:
                continue
            if events & selectors.EVENT_WRITE:
                self.send(conn, conn.sock)
            else:
                self.receive(conn, conn.sock)

    def run(self) -> LoadResult:
        """Wait for the shared start, load for the window, drain, and return the result."""
        cpu_start = time.process_time()
        delay = self.job.start_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.window_end = time.perf_counter() + self.job.seconds
        while True:
            now = time.perf_counter()
            if now < self.window_end:
                for conn in self.conns:
                    if conn.sock is None:
                        self.begin(conn)
            active = [c for c in self.conns if c.sock is not None]
            if not active:
                if now >= self.window_end:
                    break
                continue
            for conn in active:
                if now > conn.deadline:
                    self.fail(conn, f"timeout after {self.job.timeout:g} s")
            self.poll(min(c.deadline for c in active) - now)
        self.selector.close()
        self.result.elapsed = self.job.seconds
        self.result.cpu_seconds = time.process_time() - cpu_start
        return self.result


def ignore_interrupts() -> None:
    """Initializer of load and sender processes: leave Ctrl-C to the parent, which stops all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_load(job: LoadJob) -> LoadResult:
    """Keep `job.connections` requests in flight from `job.start_at` for `job.seconds`.

    Only responses with status `job.expect` that complete inside the window count as good;
    any other status, a connection error or a timeout counts as an error (also after the
    window, while the last requests drain). Runs in a load worker process.
    """
    return _Worker(job).run()


def percentile(sorted_values: list[float] | array[float], fraction: float) -> float:
    """Return the nearest-rank percentile (fraction in 0..1) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = min(max(math.ceil(fraction * len(sorted_values)), 1), len(sorted_values))
    return sorted_values[rank - 1]
