"""Time the grandfather import of past commenters on PostgreSQL, against a plain bulk load.

Run from the checkout, with the project's virtualenv and PostgreSQL on 127.0.0.1:5432:

    .venv/bin/python bench/grandfather_import.py               # 100 000 rows
    .venv/bin/python bench/grandfather_import.py --smoke       # 5 000 rows (CI)
    .venv/bin/python bench/grandfather_import.py --rows 250000

What it does:

1. creates its own database `entitlements_bench_gf_<pid>` (dropped at the end, always) and
   migrates it with `entitlements.migrate.upgrade`;
2. seeds readers already grandfathered and readers known without a grant, then writes a CSV
   with a realistic mix: most accounts commented before the cutoff (some of them already
   grandfathered, some already known), some after it, and a few invalid lines of each kind;
3. times, through the service the CLI and the API call (`services.grandfather`): the pure
   parse, the dry run (parse + one query per batch), the commit (dry run + writes + commit),
   and the same commit again (idempotent: it must write nothing);
4. in the same run, loads the same rows into a scratch table twice as a baseline: with
   PostgreSQL COPY (the fastest bulk load there is) and with a plain Core executemany INSERT;
5. prints seconds and rows/s for each, the ratios to the baselines, and whether the target
   (at most 20 s for 100 000 rows, scaled to --rows) is met: PASS or BELOW.

Exit status: 0 when the run is correct and, outside --smoke, the target is met; 1 when the
setup failed or the import wrote something unexpected; 3 when the target was missed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from entitlements.access import Policy
from entitlements.catalog import load_catalog
from entitlements.db import make_engine
from entitlements.migrate import upgrade
from entitlements.models import Account, Grant
from entitlements.services.audit import Actor
from entitlements.services.change_events import POLICY_INFO
from entitlements.services.grandfather import (
    ImportPlan,
    apply_import,
    decode_csv,
    file_sha256,
    parse_import,
    plan_for,
)
from support.outcome import EXIT_BELOW_TARGET, EXIT_ERRORS, EXIT_OK, verdict
from support.postgres import Postgres, add_postgres_options

DATABASE_PREFIX = "entitlements_bench_gf"
CUTOFF = datetime(2024, 2, 29, tzinfo=UTC)
TARGET_SECONDS, TARGET_ROWS = 20.0, 100_000
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
# Shares of the file: already grandfathered, known without a grant, after the cutoff, invalid.
ALREADY, KNOWN, AFTER, INVALID = 0.03, 0.05, 0.08, 0.01
INVALID_LINES = (
    "has space,2023-01-01T00:00:00Z",
    "{id},yesterday",
    "{id}",
    "{id},2023-01-01T00:00:00Z,extra",
    ",2023-01-01T00:00:00Z",
)


@dataclass(frozen=True)
class Settings:
    """What to run."""

    rows: int
    smoke: bool
    postgres: str
    admin_db: str
    seed: int

    @property
    def server(self) -> Postgres:
        """The PostgreSQL server the run uses."""
        return Postgres(self.postgres, self.admin_db)


def parse_args(argv: list[str] | None = None) -> Settings:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Time the grandfather CSV import.")
    add = parser.add_argument
    add("--rows", type=int, help="data lines in the file (default 100 000; smoke 5 000)")
    add("--smoke", action="store_true", help="short run for CI; the target does not fail it")
    add_postgres_options(parser)
    add("--seed", type=int, default=20240229, help="random seed of the generated file")
    args = parser.parse_args(argv)
    rows = args.rows if args.rows is not None else (5_000 if args.smoke else TARGET_ROWS)
    if rows < 100:
        parser.error("--rows must be at least 100")
    return Settings(rows, args.smoke, args.postgres.rstrip("/"), args.admin_db, args.seed)


def generate(rows: int, seed: int) -> tuple[str, list[str], list[str]]:
    """Return the CSV text, the accounts to seed as grandfathered, and those to seed as known."""
    rng = random.Random(seed)
    lines = ["account_id,last_commented_at"]
    already: list[str] = []
    known: list[str] = []
    span = int((CUTOFF - datetime(2019, 1, 1, tzinfo=UTC)).total_seconds())
    for i in range(rows):
        account = f"reader-{i:07d}"
        roll = rng.random()
        if roll < INVALID:
            lines.append(rng.choice(INVALID_LINES).format(id=account))
            continue
        if roll < INVALID + AFTER:
            when = CUTOFF + timedelta(seconds=rng.randrange(1, 60 * 86400))
        else:
            when = CUTOFF - timedelta(seconds=rng.randrange(1, span))
            if roll < INVALID + AFTER + ALREADY:
                already.append(account)
            elif roll < INVALID + AFTER + ALREADY + KNOWN:
                known.append(account)
        lines.append(f"{account},{when.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    # A few repeated accounts, as a careless export has them: each is an invalid line.
    for i in range(max(1, rows // 2000)):
        lines.insert(len(lines) // 2, f"reader-{i:07d},2023-01-01T00:00:00Z")
    return "\n".join(lines) + "\n", already, known


def seed(engine: Engine, already: list[str], known: list[str]) -> None:
    """Put in the readers the file will find already grandfathered or already known."""
    with engine.begin() as conn:
        conn.execute(
            Account.__table__.insert(),  # type: ignore[attr-defined]
            [{"id": a, "token_version": 0, "created_at": NOW} for a in already + known],
        )
        if already:
            conn.execute(
                Grant.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "account_id": a,
                        "feature": "comment",
                        "kind": "grandfather",
                        "starts_at": CUTOFF,
                        "ends_by_policy": True,
                        "reason": "seeded",
                        "actor": "bench",
                        "created_at": NOW,
                    }
                    for a in already
                ],
            )


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Return how long `action` took, in seconds, and what it returned."""
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def dry_run(engine: Engine, data: bytes) -> ImportPlan:
    """Plan an import as `grandfather import FILE` does: read, parse, classify, write nothing."""
    with Session(engine) as session:
        plan = plan_for(session, decode_csv(data), cutoff=CUTOFF)
        session.rollback()
        return plan


def commit(engine: Engine, data: bytes) -> tuple[ImportPlan, int]:
    """Import as `grandfather import FILE --commit --skip-invalid` does; return grants made."""
    # The import writes a change event per account, resolved under the policy the app's
    # sessions carry (create_app); the built-in catalog's, with the period still running.
    policy = Policy(catalog=load_catalog(None), grandfather_until=NOW + timedelta(days=365))
    with Session(engine, info={POLICY_INFO: policy}) as session:
        plan = plan_for(session, decode_csv(data), cutoff=CUTOFF)
        result = apply_import(
            session,
            plan,
            actor=Actor("bench"),
            now=NOW,
            file_sha256=file_sha256(data),
            skip_invalid=True,
        )
        session.commit()
        return plan, result.grants_created


def baseline_copy(engine: Engine, rows: list[tuple[str, datetime]]) -> None:
    """Load (account_id, last_commented_at) rows into a scratch table with COPY."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_scratch"))
        conn.execute(text("CREATE TABLE bench_scratch (account_id text, at timestamptz)"))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy("COPY bench_scratch (account_id, at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def baseline_executemany(engine: Engine, rows: list[tuple[str, datetime]]) -> None:
    """Insert the same rows into a scratch table with a plain Core executemany."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_scratch"))
        conn.execute(text("CREATE TABLE bench_scratch (account_id text, at timestamptz)"))
        statement = text("INSERT INTO bench_scratch (account_id, at) VALUES (:a, :t)")
        for start in range(0, len(rows), 5000):
            conn.execute(statement, [{"a": a, "t": t} for a, t in rows[start : start + 5000]])


def count_grants(engine: Engine) -> int:
    """Return the number of grants in the database."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Grant)) or 0)


def run(settings: Settings) -> int:
    """Set up, time every step, print the table; return the exit status."""
    csv_text, already, known = generate(settings.rows, settings.seed)
    data = csv_text.encode()
    with settings.server.database(DATABASE_PREFIX) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            seed(engine, already, known)
            parse_s, parsed = timed(lambda: parse_import(csv_text, cutoff=CUTOFF))
            dry_s, plan = timed(lambda: dry_run(engine, data))
            grants_before = count_grants(engine)
            commit_s, (_, created) = timed(lambda: commit(engine, data))
            again_s, (_, created_again) = timed(lambda: commit(engine, data))
            grants_after = count_grants(engine)
            valid = [
                (r.account_id, r.last_commented_at)
                for r in parsed.before_cutoff + parsed.after_cutoff
            ]
            copy_s, _ = timed(lambda: baseline_copy(engine, valid))
            many_s, _ = timed(lambda: baseline_executemany(engine, valid))
            with engine.connect() as conn:
                server = conn.exec_driver_sql("SHOW server_version").scalar()
        finally:
            engine.dispose()

    counts = plan.counts()
    lines = counts["rows"]
    print(
        f"grandfather import: {lines:,} data lines ({len(data) / 1e6:.1f} MB) on PostgreSQL "
        f"{server}, {os.cpu_count()} cores"
    )
    print(
        f"  new {counts['new']:,}, already grandfathered {counts['already_grandfathered']:,}, "
        f"after the cutoff {counts['after_cutoff']:,}, invalid {counts['invalid']:,}"
    )
    print(f"{'step':<48}{'seconds':>9}{'rows/s':>12}")
    for label, seconds in (
        ("parse (pure)", parse_s),
        ("dry run (parse + classify in the database)", dry_s),
        ("commit (dry run + writes + commit)", commit_s),
        ("same file again (writes nothing)", again_s),
        (f"baseline: COPY {len(valid):,} rows to a scratch table", copy_s),
        (f"baseline: executemany {len(valid):,} rows", many_s),
    ):
        print(f"{label:<48}{seconds:>9.2f}{lines / seconds:>12,.0f}")
    print(
        f"commit vs COPY: {commit_s / copy_s:.1f}x the time; "
        f"vs executemany: {commit_s / many_s:.1f}x"
    )

    correct = created == counts["new"] == grants_after - grants_before and created_again == 0
    if not correct:
        print(
            f"error: created {created} (planned {counts['new']}), "
            f"{grants_after - grants_before} grants appeared, repeat created {created_again}"
        )
        return EXIT_ERRORS
    budget = TARGET_SECONDS * settings.rows / TARGET_ROWS
    met = max(dry_s, commit_s) <= budget
    # A smoke run is too small to judge the target: it prints the numbers without a verdict.
    judged = verdict(met, smoke=settings.smoke)
    print(
        f"<= 20 s for 100 000 rows ({budget:.1f} s for {settings.rows:,}): {judged} "
        f"(dry run {dry_s:.2f} s, commit {commit_s:.2f} s)"
    )
    return EXIT_OK if met or settings.smoke else EXIT_BELOW_TARGET


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark; return the exit status."""
    import psycopg

    settings = parse_args(argv)
    try:
        return run(settings)
    except (OSError, psycopg.Error) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERRORS


if __name__ == "__main__":
    sys.exit(main())
