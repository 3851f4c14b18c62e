"""HTTP throughput of the check and token endpoints against a bare Flask route, in one run.

Run from the checkout, with the project's virtualenv and PostgreSQL on 127.0.0.1:5432:

    .venv/bin/python bench/http_api.py                # 2 rounds of 10 s per target
    .venv/bin/python bench/http_api.py --smoke        # 2 rounds of 1 s, < 45 s in all (CI)
    .venv/bin/python bench/http_api.py --seconds 20 --rounds 2 --concurrency 8 --workers 2

What it does:

1. creates its own PostgreSQL database `entitlements_bench_<pid>` (dropped at the end, always),
   migrates it with `entitlements db upgrade`, creates a service key, rotates a signing key and
   seeds a realistic reader with the CLI (two grants, a lifted ban; a ban on another account),
   then, with SQL, the reader's Plus subscription (what billing sync writes) and a few thousand
   other subscribers so every lookup runs against tables of a realistic shape;
2. serves the real app (`entitlements.app:create_app()`) and, in the same run, a bare Flask app
   (`http_api_scenario/baseline.py`: one route returning constant JSON) under gunicorn with
   identical settings: sync workers, the same worker count, 127.0.0.1, access log off, same
   environment;
3. checks one answer of each target (a Plus subscriber; a token that verifies against the JWKS),
   then loads each target in turn, after a warm-up, for a fixed time at a fixed concurrency
   from separate load processes (`support/load.py`: raw sockets, HTTP/1.1, keep-alive asked
   for);
   even rounds take the targets in reverse order, so with an even --rounds a drift in the
   machine's speed during the run weighs the same on every target;
4. prints requests/s, p50 and p99 latency and the ratio to the bare route, marks the targets
   (check >= 0.45 x bare, token issue >= 0.50 x bare) PASS or BELOW, and adds where the CPU
   went: the server processes, their PostgreSQL backends and the load generator, per request,
   and the share of the machine used by processes outside the benchmark.

gunicorn's sync workers answer `Connection: close`, so every request of every target opens a
new TCP connection; latency is measured from the connect to the last byte, identically for all
three targets. The load generator shares the machine with the servers and PostgreSQL, so on a
small machine it bounds the bare route's rate too: the CPU columns are the view of the same
comparison that does not depend on the load generator. If other processes load the machine
during a window (the "other %" column), the ratios are unreliable: the benchmark says so.

Exit status: 0 when every response was good and, outside --smoke, every target is met;
1 when a request failed or the setup failed; 3 when a target was missed (never in --smoke).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import tempfile
import time

from http_api_scenario.baseline import BARE_PATH
from http_api_scenario.measure import Bench, Measured, load, warm_up
from http_api_scenario.report import print_header, report, write_json
from http_api_scenario.seed import DATABASE_PREFIX, environment, seed
from http_api_scenario.settings import ORDER, Settings, parse_args
from http_api_scenario.targets import make_targets, verify_answers
from support.load import ignore_interrupts
from support.machine import machine_info
from support.outcome import EXIT_BELOW_TARGET, EXIT_ERRORS, run_guarded
from support.servers import start_server, stop_server, wait_ready
from support.service import cli

PACKAGES = ("flask", "gunicorn", "sqlalchemy", "psycopg")
SERVED = {"app": "entitlements.app:create_app()", "bare": "http_api_scenario.baseline:bare_app()"}


def run(settings: Settings) -> int:
    """Set up, measure, report and clean up; return the exit status."""
    started = time.monotonic()
    info = machine_info(settings.server.version(), PACKAGES)
    print_header(settings, info)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="entitlements-bench-"))
        database_url = stack.enter_context(settings.server.database(DATABASE_PREFIX))
        print(f"== setup: database {database_url.rsplit('/', 1)[1]}", flush=True)
        env = environment(database_url, tmp)
        cli(env, tmp, "db upgrade")
        servers = {}
        for name, app in SERVED.items():
            servers[name] = start_server(name, app, workers=settings.workers, env=env, cwd=tmp)
            stack.callback(stop_server, servers[name])
        key = seed(env, tmp, database_url)  # while the servers boot
        wait_ready(servers["app"], "/healthz")
        wait_ready(servers["bare"], BARE_PATH)
        targets = make_targets(servers["app"], servers["bare"], key)
        print(f"  {verify_answers(targets)}")
        print(f"  setup took {time.monotonic() - started:.1f} s", flush=True)
        context = multiprocessing.get_context("spawn")
        pool = stack.enter_context(context.Pool(settings.clients, initializer=ignore_interrupts))
        bench = Bench(settings, pool, database_url)
        measured = {name: Measured(name, targets[name].expect) for name in ORDER}
        for number in range(1, settings.rounds + 1):
            # Odd rounds run the targets in order, even rounds in reverse: over each pair of
            # rounds a drift in the machine's speed weighs the same on every target.
            for name in ORDER if number % 2 else ORDER[::-1]:
                target = targets[name]
                print(f"== round {number}: {name}: {target.method} {target.path}", flush=True)
                warm_up(bench, target, measured[name])
                load(bench, target, settings.seconds, measured[name])
        print("== results")
        errors, met = report(measured, smoke=settings.smoke)
        if settings.json_path:
            write_json(settings.json_path, measured, settings, info)
    print(f"total time {time.monotonic() - started:.1f} s")
    if errors:
        print(f"FAILED: {errors} request(s) failed", file=sys.stderr)
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
