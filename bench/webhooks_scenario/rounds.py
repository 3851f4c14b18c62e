"""A round of bench/webhooks.py: each event sent once to one server; the CPU each part used."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from multiprocessing.pool import Pool

from support.cpu import cpu_by_pid, cpu_delta, group_pids, machine_busy_seconds
from support.servers import Server
from webhooks_scenario.emulator import Event, StripeSide
from webhooks_scenario.senders import SendJob, SendResult, run_sender
from webhooks_scenario.settings import Settings

# The app's backends, and autovacuum's: the round writes, so autovacuum may run during it.
BACKENDS = ("client backend", "autovacuum worker")


@dataclass
class Measured:
    """One round: what the senders saw and the CPU each part of the system used meanwhile."""

    name: str
    result: SendResult
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    emulator_cpu: float = 0.0
    emulator_calls: list[float] = field(default_factory=list)
    busy_cpu: float = 0.0  # every core of the machine, ours or not

    @property
    def count(self) -> int:
        """Good answers."""
        return len(self.result.latencies)

    def per_event_ms(self, cpu: float) -> float:
        """Return CPU seconds per good answer, in milliseconds."""
        return cpu / self.count * 1000 if self.count else math.nan

    @property
    def other_share(self) -> float:
        """The share of the machine's CPU used by processes outside the benchmark."""
        ours = self.server_cpu + self.db_cpu + self.emulator_cpu + self.result.cpu_seconds
        capacity = self.result.seconds * len(os.sched_getaffinity(0))
        return max(self.busy_cpu - ours, 0.0) / capacity if capacity else 0.0


@dataclass(frozen=True)
class Bench:
    """What a round needs: the settings, the sender processes, the database and the emulator."""

    settings: Settings
    pool: Pool
    database_url: str
    stripe: StripeSide


def send_round(
    bench: Bench, name: str, server: Server, *, path: str, events: list[Event], expect: str | None
) -> Measured:
    """Send `events` once each from every sender process at the configured concurrency."""
    settings = bench.settings
    clients = settings.clients
    base, extra = divmod(settings.concurrency, clients)
    start_at = time.monotonic() + 0.3  # every sender starts at this instant
    jobs = [
        SendJob(
            port=server.port,
            path=path,
            events=[(e.id, e.body) for e in events[i::clients]],
            concurrency=base + (1 if i < extra else 0),
            expect_result=expect,
            start_at=start_at,
            timeout=settings.timeout,
        )
        for i in range(clients)
    ]
    pending = bench.pool.map_async(run_sender, jobs)
    servers = group_pids(server.pgid)
    backends = settings.server.backend_pids(bench.database_url, BACKENDS)
    bench.stripe.timer.take()
    bench.stripe.timer.recording = True
    time.sleep(max(start_at - time.monotonic(), 0))
    before = cpu_by_pid(servers), cpu_by_pid(backends), time.process_time()
    busy_before = machine_busy_seconds()
    try:
        parts = pending.get(timeout=len(events) * settings.timeout + 60)
    finally:
        bench.stripe.timer.recording = False
    # This process runs the emulator's threads and otherwise only waits for the senders.
    emulator_cpu = time.process_time() - before[2]
    busy = machine_busy_seconds() - busy_before
    after = (
        cpu_by_pid(servers),
        cpu_by_pid(settings.server.backend_pids(bench.database_url, BACKENDS)),
    )
    measured = Measured(name, SendResult())
    for part in parts:
        measured.result.merge(part)
    measured.server_cpu = cpu_delta(before[0], after[0])
    measured.db_cpu = cpu_delta(before[1], after[1])
    measured.emulator_cpu = emulator_cpu
    measured.emulator_calls = bench.stripe.timer.take()
    measured.busy_cpu = busy
    return measured
