"""The command line of bench/http_api.py and what the run aims for."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from support.postgres import Postgres, add_postgres_options

ORDER = ("bare", "check", "token")  # loading order of odd rounds; even rounds reverse it
GOALS = {"check": 0.45, "token": 0.50}  # minimum requests/s as a fraction of the bare route
LABELS = {"check": "check endpoint", "token": "token issue"}


@dataclass(frozen=True)
class Settings:
    """How the run is configured (printed with the results)."""

    seconds: float
    warmup: float
    rounds: int
    concurrency: int
    workers: int
    clients: int
    timeout: float
    smoke: bool
    postgres: str
    admin_db: str
    json_path: str | None

    @property
    def server(self) -> Postgres:
        """The PostgreSQL server the run uses."""
        return Postgres(self.postgres, self.admin_db)


def parse_args(argv: list[str] | None = None) -> Settings:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Requests/s and latency of the check and token endpoints vs a bare route.",
    )
    add = parser.add_argument
    add("--seconds", type=float, help="load time per target and round (default 10; smoke 1)")
    add("--warmup", type=float, help="untimed load per target and round first (1; smoke 0.3)")
    add("--rounds", type=int, default=2, help="rounds over the targets, merged (default 2)")
    add("--concurrency", type=int, default=8, help="requests kept in flight (default 8)")
    add("--workers", type=int, default=2, help="gunicorn sync workers per server (default 2)")
    add("--clients", type=int, default=1, help="load generator processes (default 1)")
    add("--timeout", type=float, default=10.0, help="per-request timeout in s (default 10)")
    add("--smoke", action="store_true", help="short run for CI; targets do not fail the run")
    add_postgres_options(parser)
    add("--json", dest="json_path", help="also write the results to this file")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (1.0 if args.smoke else 10.0)
    warmup = args.warmup if args.warmup is not None else (0.3 if args.smoke else 1.0)
    if seconds <= 0 or warmup < 0 or args.timeout <= 0:
        parser.error("--seconds and --timeout must be positive, --warmup not negative")
    if min(args.rounds, args.concurrency, args.workers, args.clients) < 1:
        parser.error("--rounds, --concurrency, --workers and --clients must be at least 1")
    return Settings(
        seconds=seconds,
        warmup=warmup,
        rounds=args.rounds,
        concurrency=args.concurrency,
        workers=args.workers,
        clients=min(args.clients, args.concurrency),
        timeout=args.timeout,
        smoke=args.smoke,
        postgres=args.postgres.rstrip("/"),
        admin_db=args.admin_db,
        json_path=args.json_path,
    )
