"""The command line of bench/event_delivery.py, the service's settings and the target."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from support.postgres import Postgres, add_postgres_options

DATABASE_PREFIX = "entitlements_benchev"
SECRET_KEY = "bench-events-secret-key-0123456789abcdef-not-for-production"  # noqa: S105
RECEIVER_PATH = "/entitlements-events"
# Issue 11: p99 from commit to receiver at most 2 s at 100 changes/s on the 2-core machine.
TARGET_P99_S = 2.0
TARGET_RATE = 100.0


@dataclass(frozen=True)
class Settings:
    """How the run is configured (printed with the results)."""

    rate: float
    seconds: float
    backlog: int
    baseline: int
    accounts: int
    writers: int
    worker_counts: tuple[int, ...]
    poll: float
    drain_timeout: float
    analyze: bool
    smoke: bool
    postgres: str
    admin_db: str

    @property
    def server(self) -> Postgres:
        """The PostgreSQL server the run uses."""
        return Postgres(self.postgres, self.admin_db)


def parse_args(argv: list[str] | None = None) -> Settings:
    """Parse the command line; fill the defaults that depend on --smoke."""
    parser = argparse.ArgumentParser(
        description="Change-event delivery: latency from commit to receiver, deliveries/s."
    )
    add = parser.add_argument
    add("--rate", type=float, default=TARGET_RATE, help="changes per second (default 100)")
    add("--seconds", type=float, help="seconds of changes at --rate (default 30; smoke 3)")
    add("--backlog", type=int, help="events queued before the workers start (default 2000; "
        "smoke 100): their drain is the throughput")
    add("--baseline", type=int, help="bare signed POSTs to the receiver (default 1000; smoke 100)")
    add("--accounts", type=int, default=200, help="accounts the changes cycle over (default 200)")
    add("--writers", type=int, default=2, help="processes committing changes (default 2)")
    add("--workers", default="1,2", help="`webhooks work` processes per round (default 1,2)")
    add("--poll", type=float, default=0.5, help="the workers' --poll in s (default 0.5, theirs)")
    add("--drain-timeout", type=float, default=60.0, help="wait this long for the last event")
    add("--no-analyze", dest="analyze", action="store_false",
        help="leave the planner's statistics to autovacuum (see the module's docstring)")
    add("--smoke", action="store_true", help="short run that proves it works; judges nothing")
    add_postgres_options(parser)
    args = parser.parse_args(argv)
    try:
        counts = tuple(int(n) for n in args.workers.split(","))
    except ValueError:
        parser.error("--workers is a comma-separated list of worker counts, e.g. 1,2")
    seconds = args.seconds if args.seconds is not None else (3.0 if args.smoke else 30.0)
    backlog = args.backlog if args.backlog is not None else (100 if args.smoke else 2000)
    baseline = args.baseline if args.baseline is not None else (100 if args.smoke else 1000)
    if min(args.rate, seconds, args.poll, args.drain_timeout) <= 0:
        parser.error("--rate, --seconds, --poll and --drain-timeout must be positive")
    if min(backlog, baseline, args.accounts, args.writers, *counts) < 1:
        parser.error("--backlog, --baseline, --accounts, --writers, --workers must be >= 1")
    return Settings(
        rate=args.rate,
        seconds=seconds,
        backlog=backlog,
        baseline=baseline,
        accounts=max(args.accounts, args.writers),
        writers=args.writers,
        worker_counts=counts,
        poll=args.poll,
        drain_timeout=args.drain_timeout,
        analyze=args.analyze,
        smoke=args.smoke,
        postgres=args.postgres.rstrip("/"),
        admin_db=args.admin_db,
    )
