"""How bench/http_api.py loads a target: load processes, CPU of each part, sums over rounds."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from multiprocessing.pool import Pool

from http_api_scenario.settings import Settings
from http_api_scenario.targets import Target
from support.cpu import cpu_seconds, group_pids, machine_busy_seconds
from support.load import LoadJob, LoadResult, percentile, run_load
from support.servers import HOST


@dataclass
class Measured:
    """What loading one target gave, summed over rounds."""

    target: str
    expect: int
    result: LoadResult = field(default_factory=LoadResult)
    seconds: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    busy_cpu: float = 0.0
    warmup_errors: int = 0

    @property
    def ok(self) -> int:
        """Good responses completed inside the windows."""
        return len(self.result.latencies)

    @property
    def done(self) -> int:
        """Responses completed, inside the windows or while draining after them."""
        return self.ok + self.result.completed_late

    @property
    def errors(self) -> int:
        """Failed requests, in the windows and in the warm-ups."""
        return self.result.errors + self.warmup_errors

    @property
    def rps(self) -> float:
        """Good responses per second of window."""
        return self.ok / self.seconds if self.seconds else 0.0

    def latency_ms(self, fraction: float) -> float:
        """Return a latency percentile in milliseconds."""
        return percentile(sorted(self.result.latencies), fraction) * 1000

    def per_request_ms(self, cpu: float) -> float:
        """Return CPU seconds per completed request, in milliseconds."""
        return cpu / self.done * 1000 if self.done else float("nan")

    @property
    def other_share(self) -> float:
        """The share of the machine's CPU used by processes outside the benchmark."""
        ours = self.server_cpu + self.db_cpu + self.result.cpu_seconds
        capacity = self.seconds * (os.cpu_count() or 1)
        return max(self.busy_cpu - ours, 0.0) / capacity if capacity else 0.0


@dataclass(frozen=True)
class Bench:
    """What loading needs besides the target: the settings, load processes and database."""

    settings: Settings
    pool: Pool
    database_url: str


def load(bench: Bench, target: Target, seconds: float, into: Measured) -> None:
    """Load a target from every load process at once for `seconds`; add the outcome to `into`."""
    settings = bench.settings
    base, extra = divmod(settings.concurrency, settings.clients)
    start_at = time.monotonic() + 0.3  # every load process opens the window at this instant
    jobs = [
        LoadJob(
            host=HOST,
            port=target.server.port,
            request=target.raw_request(),
            expect=target.expect,
            connections=base + (1 if i < extra else 0),
            start_at=start_at,
            seconds=seconds,
            timeout=settings.timeout,
        )
        for i in range(settings.clients)
    ]
    pending = bench.pool.map_async(run_load, jobs)
    servers = group_pids(target.server.pgid)
    backends = settings.server.backend_pids(bench.database_url)
    time.sleep(max(start_at - time.monotonic(), 0))
    before = cpu_seconds(servers), cpu_seconds(backends), machine_busy_seconds()
    parts = pending.get(timeout=seconds + settings.timeout + 60)
    after = cpu_seconds(servers), cpu_seconds(backends), machine_busy_seconds()
    for part in parts:
        into.result.merge(part)
    into.seconds += seconds
    into.server_cpu += after[0] - before[0]
    into.db_cpu += after[1] - before[1]
    into.busy_cpu += after[2] - before[2]


def warm_up(bench: Bench, target: Target, into: Measured) -> None:
    """Load a target untimed (connection pools, caches, the signing key); count its errors."""
    if bench.settings.warmup > 0:
        scratch = Measured(target.name, target.expect)
        load(bench, target, bench.settings.warmup, scratch)
        into.warmup_errors += scratch.result.errors
        for sample in scratch.result.error_samples:
            into.result.add_error_sample(sample)
