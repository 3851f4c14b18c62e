"""The command line of bench/webhooks.py, the service's webhook settings and the target."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from support.postgres import Postgres, add_postgres_options

DATABASE_PREFIX = "entitlements_benchwh"
WEBHOOK_PATH = "/v1/webhooks/stripe"
SECRET_KEY = "bench-webhooks-secret-key-0123456789abcdef-not-for-production"  # noqa: S105
STRIPE_KEY = "sk_test_bench"
WEBHOOK_SECRET = "whsec_bench_" + "0123456789abcdef" * 2
TARGET_P99_MS = 100.0


@dataclass(frozen=True)
class Settings:
    """How the run is configured (printed with the results)."""

    events: int
    warmup: int
    concurrency: int
    workers: int
    threads: int
    clients: int
    stripe_latency_ms: float
    global_clock: bool
    timeout: float
    smoke: bool
    profile: int
    postgres: str
    admin_db: str

    @property
    def server(self) -> Postgres:
        """The PostgreSQL server the run uses."""
        return Postgres(self.postgres, self.admin_db)


def parse_args(argv: list[str] | None = None) -> Settings:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Webhook acknowledgement latency and events/s vs a bare route.",
    )
    add = parser.add_argument
    add("--events", type=int, help="distinct events measured (default 3000; smoke 150)")
    add("--warmup", type=int, help="untimed events sent first (default 60; smoke 15)")
    add("--concurrency", type=int, default=4, help="requests kept in flight (default 4)")
    add("--workers", type=int, default=2, help="gunicorn sync workers per server (default 2)")
    add("--threads", type=int, default=1, help="over 1: gthread workers with this many threads")
    add(
        "--stripe-latency",
        type=float,
        default=0.0,
        metavar="MS",
        help="delay every re-fetch this long, as the network to api.stripe.com does (default 0)",
    )
    add("--clients", type=int, default=1, help="sender processes (default 1)")
    add("--timeout", type=float, default=30.0, help="per-request timeout in s (default 30)")
    add("--smoke", action="store_true", help="short run for CI; the target does not fail it")
    add("--profile", type=int, default=0, help="then profile N more events in-process")
    add(
        "--global-clock",
        action="store_true",
        help="keep the readers on the emulator's global clock, not a test clock (slow: see above)",
    )
    add_postgres_options(parser)
    args = parser.parse_args(argv)
    events = args.events if args.events is not None else (150 if args.smoke else 3000)
    warmup = args.warmup if args.warmup is not None else (15 if args.smoke else 60)
    if events < 1 or args.timeout <= 0 or min(warmup, args.profile, args.stripe_latency) < 0:
        parser.error("--events, --timeout must be positive; the other numbers not negative")
    if min(args.concurrency, args.workers, args.threads, args.clients) < 1:
        parser.error("--concurrency, --workers, --threads and --clients must be at least 1")
    return Settings(
        events=events,
        warmup=warmup,
        concurrency=args.concurrency,
        workers=args.workers,
        threads=args.threads,
        clients=min(args.clients, args.concurrency),
        stripe_latency_ms=args.stripe_latency,
        global_clock=args.global_clock,
        timeout=args.timeout,
        smoke=args.smoke,
        profile=args.profile,
        postgres=args.postgres.rstrip("/"),
        admin_db=args.admin_db,
    )


def worker_kind(settings: Settings) -> str:
    """Describe the gunicorn workers, e.g. `2 sync workers`."""
    if settings.threads > 1:
        return f"{settings.workers} gthread workers x {settings.threads} threads"
    return f"{settings.workers} sync workers"
