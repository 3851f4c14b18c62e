"""One round: a backlog drained by N `webhooks work` processes (throughput), then changes at a
fixed rate (latency from commit to receiver); and the baseline of bare signed POSTs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path

from entitlements.services.change_events import sign_event
from entitlements.services.webhook_delivery import post
from event_delivery_scenario.receiver import Arrival, Receiver
from event_delivery_scenario.settings import Settings
from event_delivery_scenario.writer import Commit, account_names, write_changes
from support.servers import die_with_parent
from support.service import entitlements_command


@dataclass
class Round:
    """What one worker count measured."""

    workers: int
    backlog_commits: list[Commit] = field(default_factory=list)
    backlog_arrivals: list[Arrival] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    writers_late: float = 0.0
    missing: int = 0


def start_workers(
    count: int, env: dict[str, str], cwd: str, poll: float
) -> list[subprocess.Popen[bytes]]:
    """Start `entitlements webhooks work` processes, each leading its own process group."""
    started = []
    for n in range(count):
        with open(Path(cwd) / f"webhooks-work-{count}-{n}.log", "ab") as log:
            started.append(
                subprocess.Popen(
                    [*entitlements_command(), "webhooks", "work", "--poll", str(poll)],
                    env=env,
                    cwd=cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent,  # noqa: PLW1509  (this process starts no threads)
                )
            )
    return started


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (each finishes the delivery in hand), then SIGKILL what is left."""
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=5)


def write(
    pool: Pool, settings: Settings, database_url: str, prefix: str, *, count: int,
    rate: float | None,
) -> tuple[list[Commit], float]:
    """Commit `count` changes from the writer processes (at `rate` in all); return them and
    how late the latest started."""
    accounts = account_names(prefix, settings.accounts)
    start_at = time.time() + 1.0  # every writer is ready by then
    jobs = []
    for k in range(settings.writers):
        share = count // settings.writers + (1 if k < count % settings.writers else 0)
        mine = accounts[k :: settings.writers]
        each = None if rate is None else rate / settings.writers
        # Interleaved: writer k starts k/rate after writer 0.
        offset = 0.0 if rate is None else k / rate
        jobs.append(
            pool.apply_async(write_changes, (database_url, mine, share, each, start_at + offset))
        )
    commits: list[Commit] = []
    late = 0.0
    for job in jobs:
        done, job_late = job.get(timeout=settings.seconds * 4 + 600)
        commits += done
        late = max(late, job_late)
    return commits, late


def analyze(database_url: str) -> None:
    """Bring the planner's statistics of the outbox up to date, as autovacuum does within a
    minute: planned on an empty table's statistics, the claim's anti-join scans every pending
    delivery for each one (about 300 ms a claim with 2000 pending, against 0.1 ms)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE event_deliveries, change_events")


def wanted(commits: list[Commit]) -> set[tuple[str, int]]:
    """Return the (account, sequence) pairs the receiver must see."""
    return {(c.account_id, c.sequence) for c in commits}


def arrivals_of(receiver: Receiver, prefix: str) -> list[Arrival]:
    """Return the arrivals of one phase's accounts, in arrival order."""
    return sorted(
        (a for a in receiver.arrivals if a.account_id.startswith(prefix + "-")),
        key=lambda a: a.at,
    )


def run_round(
    settings: Settings, workers: int, *, pool: Pool, receiver: Receiver, database_url: str,
    env: dict[str, str], cwd: str,
) -> Round:
    """Queue a backlog, start the workers, time its drain, then changes at the rate."""
    result = Round(workers)
    backlog, latency = f"backlog{workers}", f"rate{workers}"
    print(f"== {workers} worker(s): {settings.backlog} events queued first", flush=True)
    result.backlog_commits, _ = write(
        pool, settings, database_url, backlog, count=settings.backlog, rate=None
    )
    if settings.analyze:
        analyze(database_url)
    running = start_workers(workers, env, cwd, settings.poll)
    try:
        if not receiver.wait_for(wanted(result.backlog_commits), settings.drain_timeout):
            raise RuntimeError(f"the backlog did not drain in {settings.drain_timeout} s")
        result.backlog_arrivals = arrivals_of(receiver, backlog)
        count = round(settings.rate * settings.seconds)
        print(f"   then {count} changes at {settings.rate:g}/s", flush=True)
        result.commits, result.writers_late = write(
            pool, settings, database_url, latency, count=count, rate=settings.rate
        )
        want = wanted(result.commits)
        if not receiver.wait_for(want, settings.drain_timeout):
            seen = {(a.account_id, a.sequence) for a in receiver.arrivals}
            result.missing = len(want - seen)
        result.arrivals = arrivals_of(receiver, latency)
    finally:
        stop_workers(running)
    return result


def baseline(receiver_url: str, secret: str, count: int) -> float:
    """POST `count` signed events one after another as a worker does, without the database;
    return posts per second."""
    bodies = []
    for n in range(count):
        data = {"account_id": f"baseline-{n:05d}", "sequence": 1, "not_before": None}
        bodies.append(json.dumps({"type": "entitlements.changed", "data": data}).encode())
    started = time.perf_counter()
    for n, body in enumerate(bodies):
        msg_id, stamp = f"evt_base_{n}", int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign_event(secret, msg_id, stamp, body),
        }
        # allow_private: the receiver is on 127.0.0.1, as the workers allow (app_environment).
        answer = post(receiver_url, headers, body, allow_private=True)
        if answer.error is not None:
            raise RuntimeError(f"the receiver refused a baseline POST: {answer.error}")
    return count / (time.perf_counter() - started)
