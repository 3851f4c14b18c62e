"""Stripe webhook acknowledgement latency and sustained events/s, against a bare route.

Run from the checkout, with the project's virtualenv and PostgreSQL on 127.0.0.1:5432:

    .venv/bin/python bench/webhooks.py                  # 3000 events, 4 in flight, 2 workers
    .venv/bin/python bench/webhooks.py --smoke          # 150 events, < 40 s in all (CI)
    .venv/bin/python bench/webhooks.py --events 5000 --concurrency 8 --workers 4
    .venv/bin/python bench/webhooks.py --profile 300     # then where a delivery's time goes
    .venv/bin/python bench/webhooks.py --events 600 --stripe-latency 150 [--threads 8]

What it does:

1. creates its own PostgreSQL database `entitlements_benchwh_<pid>` (dropped at the end,
   always) and migrates it with `entitlements db upgrade`;
2. starts the offline Stripe emulator in this process with webhook delivery paused, and an
   endpoint subscribed to the event types the app handles, so the events queue up undelivered;
3. serves the real app (`entitlements.app:create_app()`, its Stripe API base pointed at the
   emulator) and, as the baseline, a bare Flask app (`webhooks_scenario/baseline.py`: one route that
   reads the body and answers 200) under gunicorn with identical settings: sync workers, the same
   worker count, 127.0.0.1, access log off, the same environment;
4. makes real Stripe objects through the real `stripe` SDK against the emulator: customers with
   `metadata.account_id` and a card that pays, each with a Plus subscription. Each subscription
   queues `customer.subscription.created`, `invoice.paid` and `customer.subscription.updated`;
   every one of them makes the app re-fetch from the emulator (the invoice, the customer, the
   subscription) before it answers. A few subscriptions' events warm the servers up untimed.
   The customers live on one Stripe test clock frozen at the start: the emulator runs its
   billing engine on every API call, and for subscriptions on its global clock that scans every
   subscription times every invoice under its one lock, so with 1000 readers each re-fetch took
   ~175-365 ms and the run measured the emulator, not the app (`--global-clock` shows it);
5. from separate sender processes (asyncio, raw HTTP/1.1, a new connection per request as
   Stripe does), sends at a fixed concurrency, signed at send time exactly as Stripe signs
   (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`), in Stripe's
   queue order: the same bodies to the bare route, then each event once to the app, then each
   event again (duplicates of processed events, answered without a re-fetch);
6. checks every answer (status 200, the app's `result` and `event_id`), then checks in the
   database that every event is recorded once as processed (`stripe_events`, one attempt) and
   that every subscription is mirrored as active;
7. prints count, events/s, p50, p99 and max latency per target, the events/s ratio to the bare
   route, the CPU each part used per event (app workers, their PostgreSQL backends, the emulator
   in this process, the senders), the emulator's re-fetches per event and their service time,
   and `p99 <= 100 ms: PASS/BELOW` for first deliveries. `--profile N` then pushes N more
   events (and their duplicates) through the app in this process, one at a time, and prints
   the wall and CPU time of each stage: re-fetches, SQL round trips, COMMIT, ...

`--stripe-latency MS` holds every re-fetch back MS first, as the network to api.stripe.com
would (the emulator answers in about a millisecond); `--threads T` serves with gthread workers.

Latency is measured from the start of the connect to the last byte of the answer. The senders,
the emulator, PostgreSQL and the servers share the machine; on a small machine the CPU columns
show who competes with whom.

Exit status: 0 when every answer was right and, outside --smoke, the p99 target is met; 1 when an
answer was wrong, the database check failed or the setup failed; 3 when the target was missed
(never in --smoke).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import tempfile
import time
from collections import Counter

from support.load import ignore_interrupts
from support.machine import machine_info
from support.outcome import EXIT_BELOW_TARGET, EXIT_ERRORS, run_guarded
from support.servers import Server, start_server, stop_server, wait_ready
from support.service import app_environment, cli
from webhooks_scenario.baseline import BARE_PATH
from webhooks_scenario.database_check import verify_database
from webhooks_scenario.emulator import make_emulator
from webhooks_scenario.profile import profile_handler
from webhooks_scenario.report import print_header, report, report_errors
from webhooks_scenario.rounds import Bench, Measured, send_round
from webhooks_scenario.settings import (
    DATABASE_PREFIX,
    SECRET_KEY,
    STRIPE_KEY,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    Settings,
    parse_args,
)

PACKAGES = ("flask", "gunicorn", "sqlalchemy", "psycopg", "stripe")
SERVED = {"app": "entitlements.app:create_app()", "bare": "webhooks_scenario.baseline:bare_app()"}


def environment(database_url: str, instance_path: str, api_base: str) -> dict[str, str]:
    """Return the environment of the CLI and of both servers: Stripe is the emulator."""
    return app_environment(
        database_url,
        instance_path,
        SECRET_KEY,
        ENTITLEMENTS_STRIPE_SECRET_KEY=STRIPE_KEY,
        ENTITLEMENTS_STRIPE_API_BASE=api_base,
        ENTITLEMENTS_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


def setup_servers(
    stack: contextlib.ExitStack, settings: Settings, env: dict[str, str], tmp: str
) -> dict[str, Server]:
    """Start the app and the bare server; stop them when the stack closes."""
    servers = {}
    for name, app in SERVED.items():
        servers[name] = start_server(
            name, app, workers=settings.workers, threads=settings.threads, env=env, cwd=tmp
        )
        stack.callback(stop_server, servers[name])
    return servers


def run(settings: Settings) -> int:
    """Set up, measure, report and clean up; return the exit status."""
    started = time.monotonic()
    print_header(settings, machine_info(settings.server.version(), PACKAGES))
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="entitlements-benchwh-"))
        database_url = stack.enter_context(settings.server.database(DATABASE_PREFIX))
        print(f"== setup: database {database_url.rsplit('/', 1)[1]}", flush=True)
        side = make_emulator()
        stack.callback(side.emulator.stop)
        env = environment(database_url, tmp, side.emulator.url)
        cli(env, tmp, "db upgrade")
        # The servers fork before this process starts any thread (their preexec_fn runs there).
        servers = setup_servers(stack, settings, env, tmp)
        side.emulator.start()
        side.timer.delay = settings.stripe_latency_ms / 1000
        if not settings.global_clock:
            side.use_test_clock()
        warmup = side.collect(settings.warmup) if settings.warmup else []
        events = side.collect(settings.events)
        print(
            f"  {len(side.subscriptions)} subscriptions made through the SDK; "
            f"{len(events)} events to send: {dict(Counter(e.type for e in events))}",
            flush=True,
        )
        wait_ready(servers["app"], "/healthz")
        wait_ready(servers["bare"], BARE_PATH, method="POST")
        context = multiprocessing.get_context("spawn")
        pool = stack.enter_context(context.Pool(settings.clients, initializer=ignore_interrupts))
        bench = Bench(settings, pool, database_url, side)
        warm = {}
        if warmup:
            warm["bare"] = send_round(
                bench, "warm bare", servers["bare"], path=BARE_PATH, events=warmup, expect=None
            )
            warm["app"] = send_round(
                bench, "warm-up", servers["app"], path=WEBHOOK_PATH, events=warmup,
                expect="processed",
            )  # fmt: skip
        print(f"  setup took {time.monotonic() - started:.1f} s", flush=True)
        rounds: dict[str, Measured] = {}
        plan = (
            ("bare", servers["bare"], BARE_PATH, None),
            ("webhook", servers["app"], WEBHOOK_PATH, "processed"),
            ("duplicate", servers["app"], WEBHOOK_PATH, "duplicate; already applied"),
        )
        for name, server, path, expect in plan:
            print(f"== {name}: {len(events)} x POST {path} on the {server.name} server", flush=True)
            rounds[name] = send_round(bench, name, server, path=path, events=events, expect=expect)
        print("== database check")
        problems = verify_database(database_url, warmup + events, len(side.subscriptions))
        for problem in problems:
            print(f"  FAILED: {problem}")
        print("== results")
        met = report(rounds, settings)
        errors = report_errors({**{f"warm {k}": v for k, v in warm.items()}, **rounds})
        if settings.profile:
            profile_handler(env, side.collect(settings.profile + 1), side)
    print(f"total time {time.monotonic() - started:.1f} s")
    if errors or problems:
        print(
            f"FAILED: {errors} wrong answer(s), {len(problems)} database problem(s)",
            file=sys.stderr,
        )
        return EXIT_ERRORS
    if not met and not settings.smoke:
        return EXIT_BELOW_TARGET
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the benchmark; return the exit status."""
    settings = parse_args(argv)
    return run_guarded(lambda: run(settings))


if __name__ == "__main__":
    sys.exit(main())
