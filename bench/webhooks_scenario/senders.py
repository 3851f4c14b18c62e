"""The senders of bench/webhooks.py: deliveries signed as Stripe signs them, in other processes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from support.load import percentile
from support.servers import HOST
from webhooks_scenario.settings import WEBHOOK_SECRET

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
_ERROR_SAMPLES = 5


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Return the `Stripe-Signature` header Stripe sends: t=<unix>,v1=<hex HMAC-SHA256>."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def raw_request(path: str, port: int, body: bytes) -> bytes:
    """Return one signed POST as Stripe sends it (a new connection per delivery)."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Accept: */*; q=0.5, application/xml\r\n"
        "Cache-Control: no-cache\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Stripe-Signature: {stripe_signature(body, WEBHOOK_SECRET, int(time.time()))}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


@dataclass(frozen=True)
class SendJob:
    """One sender process's share of a round."""

    port: int
    path: str
    events: list[tuple[str, bytes]]  # (event id, body)
    concurrency: int
    expect_result: str | None  # the app's "result" every answer must carry; None: not checked
    start_at: float  # time.monotonic() at which every sender starts
    timeout: float


@dataclass
class SendResult:
    """What one or more senders saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    first_start: float = math.inf
    last_end: float = 0.0
    cpu_seconds: float = 0.0

    def fail(self, message: str) -> None:
        """Count an error and keep a few distinct samples."""
        self.errors += 1
        if len(self.error_samples) < _ERROR_SAMPLES and message not in self.error_samples:
            self.error_samples.append(message)

    def merge(self, other: SendResult) -> None:
        """Add another sender's result into this one."""
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.results.update(other.results)
        for sample in other.error_samples:
            if len(self.error_samples) < _ERROR_SAMPLES and sample not in self.error_samples:
                self.error_samples.append(sample)
        self.errors += other.errors
        self.first_start = min(self.first_start, other.first_start)
        self.last_end = max(self.last_end, other.last_end)
        self.cpu_seconds += other.cpu_seconds

    @property
    def seconds(self) -> float:
        """Wall time from the first connect to the last answer."""
        return max(self.last_end - self.first_start, 0.0)

    @property
    def rate(self) -> float:
        """Good answers per second of wall time."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def latency_ms(self, fraction: float) -> float:
        """Return the nearest-rank latency percentile (fraction in 0..1) in milliseconds."""
        return percentile(sorted(self.latencies), fraction) * 1000


def _check_answer(job: SendJob, event_id: str, status: int, body: bytes, into: SendResult) -> bool:
    """Check one answer: 200 and, for the app, the expected result for this event."""
    into.statuses[status] += 1
    if status != 200:
        into.fail(f"{event_id}: status {status}: {body[:200].decode('utf-8', 'replace')}")
        return False
    if job.expect_result is None:
        return True
    try:
        answer = json.loads(body)
    except ValueError:
        into.fail(f"{event_id}: answer is not JSON: {body[:200]!r}")
        return False
    result = str(answer.get("result"))
    into.results[result] += 1
    if result != job.expect_result or answer.get("event_id") != event_id:
        into.fail(f"{event_id}: expected {job.expect_result!r}, got {answer}")
        return False
    return True


async def _exchange(job: SendJob, body: bytes) -> tuple[int, bytes]:
    """Connect, send one signed delivery and read the answer to EOF."""
    reader, writer = await asyncio.open_connection(HOST, job.port)
    try:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.write(raw_request(job.path, job.port, body))  # signed now, as Stripe does
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ConnectionError(f"no HTTP answer: {data[:80]!r}")
    return int(head[9:12]), payload


async def _send_all(job: SendJob) -> SendResult:
    """Keep `job.concurrency` deliveries in flight until every event has been sent once."""
    result = SendResult()
    queue = iter(job.events)

    async def lane() -> None:
        for event_id, body in queue:  # the lanes share one iterator: each event goes once
            started = time.perf_counter()
            result.first_start = min(result.first_start, time.monotonic())
            try:
                status, answer = await asyncio.wait_for(_exchange(job, body), job.timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                result.fail(f"{event_id}: {type(exc).__name__}: {exc}")
                continue
            latency = time.perf_counter() - started
            result.last_end = max(result.last_end, time.monotonic())
            if _check_answer(job, event_id, status, answer, result):
                result.latencies.append(latency)

    await asyncio.gather(*(lane() for _ in range(job.concurrency)))
    return result


def run_sender(job: SendJob) -> SendResult:
    """Wait for the shared start, send this share of the events and return what was seen."""
    cpu_start = time.process_time()
    delay = job.start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    result = asyncio.run(_send_all(job))
    result.cpu_seconds = time.process_time() - cpu_start
    return result
