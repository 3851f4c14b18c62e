"""Change-event delivery: latency from commit to receiver at 100 changes/s, and deliveries/s,
with one and with two `entitlements webhooks work` processes on PostgreSQL.

Run from the checkout, with the project's virtualenv and PostgreSQL on 127.0.0.1:5432:

    .venv/bin/python bench/event_delivery.py                # 30 s at 100/s; backlog of 2000
    .venv/bin/python bench/event_delivery.py --smoke        # 3 s at 100/s; backlog 100 (CI)
    .venv/bin/python bench/event_delivery.py --workers 1,2,4 --rate 200 --seconds 60

What it does:

1. creates its own PostgreSQL database `entitlements_benchev_<pid>` (dropped at the end,
   always), migrates it with `entitlements db upgrade`, starts a receiver process on 127.0.0.1
   that verifies every delivery with the Python SDK (`verify_event`: Standard Webhooks, HMAC
   and strict JSON) and registers it with `entitlements webhooks add`;
2. baseline: POSTs --baseline signed events to the receiver one after another with the
   worker's own HTTP client (`webhook_delivery.post`), without the database: the most one
   sequential sender gets out of the receiver;
3. for each worker count: with no worker running, writer processes commit --backlog comp
   grants through the grant service (each writes its change event and delivery in the same
   transaction, as the admin API does); then the workers start and the backlog's drain, first
   to last arrival, is the throughput (deliveries/s, and its ratio to the baseline);
4. then the writers commit changes at --rate for --seconds, paced open-loop over --accounts
   accounts (fresh ones per phase, so each event's sequence is known), noting the time right
   after each COMMIT; the receiver notes each arrival: latency = arrival - commit;
5. prints per worker count the drain rate, the rate reached, deliveries/s, p50/p99/max
   latency, missing, duplicate and out-of-order events (per account), and `p99 <= 2 s:
   PASS/BELOW`; then checks in the database that every delivery is `delivered`.

Writers, workers, receiver and PostgreSQL share the machine; the workers poll every --poll
seconds when idle (their default, 0.5 s), which bounds the latency from below when idle.

The outbox table grows from empty to the backlog within seconds, faster than autovacuum
analyzes it (it looks once a minute). The claim's plan does not depend on statistics (it reads
the next due ids from a partial index, then checks only those); the run still ANALYZEs the
table once the backlog is written, as autovacuum would shortly after, and `--no-analyze` shows
the cold case (the same latencies within noise).

Exit status: 0 when every event arrived once verified and in order per account, and, outside
--smoke, the target is met for every worker count; 1 when an event was missing, refused, out
of order, or the setup failed; 3 when the target was missed (never in --smoke).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import tempfile
import time

from event_delivery_scenario.phases import Round, baseline, run_round
from event_delivery_scenario.receiver import start_receiver
from event_delivery_scenario.report import report_round
from event_delivery_scenario.settings import (
    DATABASE_PREFIX,
    RECEIVER_PATH,
    SECRET_KEY,
    Settings,
    parse_args,
)
from support.load import ignore_interrupts
from support.machine import machine_info, print_machine
from support.outcome import EXIT_BELOW_TARGET, EXIT_ERRORS, EXIT_OK, run_guarded
from support.servers import free_port
from support.service import app_environment, cli

PACKAGES = ("sqlalchemy", "psycopg", "entitlements-client")


def undelivered(database_url: str) -> dict[str, int]:
    """Return the count of deliveries by status other than `delivered`."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM event_deliveries WHERE status <> 'delivered' "
            "GROUP BY status"
        ).fetchall()
    return {str(status): int(count) for status, count in rows}


def run(settings: Settings) -> int:
    """Set up, measure, report and clean up; return the exit status."""
    started = time.monotonic()
    print_machine(machine_info(settings.server.version(), PACKAGES))
    print(
        f"== settings: {settings.rate:g} changes/s for {settings.seconds:g} s over "
        f"{settings.accounts} accounts, {settings.writers} writer processes, backlog "
        f"{settings.backlog}, workers {settings.worker_counts} polling every {settings.poll:g} s"
        + (" (smoke)" if settings.smoke else ""),
        flush=True,
    )
    rounds: list[Round] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="entitlements-benchev-"))
        database_url = stack.enter_context(settings.server.database(DATABASE_PREFIX))
        print(f"== setup: database {database_url.rsplit('/', 1)[1]}", flush=True)
        env = app_environment(database_url, tmp, SECRET_KEY)
        cli(env, tmp, "db upgrade")
        port = free_port()
        url = f"http://127.0.0.1:{port}{RECEIVER_PATH}"
        secret = cli(env, tmp, "webhooks add", url).strip().splitlines()[-1].split()[-1]
        receiver = start_receiver(secret, port)
        stack.callback(receiver.stop)
        context = multiprocessing.get_context("spawn")
        pool = stack.enter_context(context.Pool(settings.writers, initializer=ignore_interrupts))
        bare = baseline(url, secret, settings.baseline)
        print(f"== baseline: {bare:.1f} bare signed POSTs/s to the receiver, one at a time")
        for workers in settings.worker_counts:
            rounds.append(
                run_round(
                    settings, workers, pool=pool, receiver=receiver,
                    database_url=database_url, env=env, cwd=tmp,
                )
            )
        receiver.collect()
        left = undelivered(database_url)
        print("== results")
        verdicts = [report_round(result, settings, bare) for result in rounds]
        refused = receiver.refused
        for line in refused[:5]:
            print(f"  FAILED: the receiver {line}")
        if left:
            print(f"  FAILED: deliveries not delivered: {left}")
    print(f"total time {time.monotonic() - started:.1f} s")
    failures = sum(failed for _, failed in verdicts) + len(refused) + sum(left.values())
    if failures:
        print(f"FAILED: {failures} event(s) missing, refused or out of order", file=sys.stderr)
        return EXIT_ERRORS
    if not all(met for met, _ in verdicts) and not settings.smoke:
        return EXIT_BELOW_TARGET
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark; return the exit status."""
    settings = parse_args(argv)
    return run_guarded(lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
