"""CPU instructions per request of the check and token endpoints against a bare Flask route.

Run from the checkout, with the project's virtualenv, PostgreSQL on 127.0.0.1:5432 and valgrind
(`apt-get install valgrind`):

    .venv/bin/python bench/instructions.py              # 40 and 240 requests per target
    .venv/bin/python bench/instructions.py --requests 400

Wall-clock benchmarks on a small shared machine move by ±10 % from run to run; instruction
counts do not. This one:

1. creates and seeds its own PostgreSQL database exactly as bench/http_api.py does (dropped at
   the end, always);
2. for each target (the bare route, the check, a token issue) runs a child process under
   `valgrind --tool=callgrind` that builds the app, answers the request in-process through
   WSGI (no server, no sockets on the app side besides PostgreSQL) 30 times to warm up and
   then N times, once with N = 40 and once with N = 40 + --requests, checking every answer;
3. prints the difference divided by --requests: the instructions of one request, start-up and
   warm-up cancelled out, and the ratio to the bare route in the same run.

The child's kernel time (the socket to PostgreSQL) and PostgreSQL's own work are not counted:
bench/http_api.py measures those. Two children run at a time; a run takes a few minutes.
Exit status: 0 when every answer was right, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from http_api_scenario.baseline import BARE_PATH, bare_app
from http_api_scenario.seed import ACCOUNT, DATABASE_PREFIX, environment, seed
from http_api_scenario.settings import parse_args
from support.service import cli

BENCH_DIR = Path(__file__).resolve().parent
WARM_UP = 30
BASE = 40
TARGETS = {
    "bare": ("GET", BARE_PATH, b"", 200),
    "check": ("GET", f"/v1/accounts/{ACCOUNT}/entitlements", b"", 200),
    "token": ("POST", f"/v1/accounts/{ACCOUNT}/tokens", b'{"audience": "site"}', 201),
}


def child(target: str, count: int) -> None:
    """Answer `count` requests after the warm-up, in this process (run under valgrind)."""
    from werkzeug.test import EnvironBuilder

    method, path, body, expect = TARGETS[target]
    if target == "bare":
        app = bare_app()
    else:
        from entitlements.app import create_app

        app = create_app()
    headers = {"Authorization": f"Bearer {os.environ['BENCH_KEY']}"}
    if body:
        headers["Content-Type"] = "application/json"
    builder = EnvironBuilder(path=path, method=method, headers=list(headers.items()), data=body)
    environ = builder.get_environ()
    statuses: list[str] = []

    def start_response(status: str, _headers: object, _exc: object = None) -> None:
        statuses.append(status)

    for _ in range(WARM_UP + count):
        request = dict(environ, **{"wsgi.input": io.BytesIO(body)})
        b"".join(app(request, start_response))  # type: ignore[arg-type]
        if not statuses.pop().startswith(str(expect)):
            sys.exit(f"{target}: a request was not answered {expect}")


def count_instructions(target: str, count: int, env: dict[str, str], cwd: str) -> int:
    """Return the instructions callgrind counted for a child answering `count` requests."""
    out = Path(cwd) / f"callgrind.{target}.{count}"
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            target,
            str(count),
        ],
        env={**env, "PYTHONHASHSEED": "0"},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{target} x {count} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    """Set up, count, report and clean up; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests counted per target")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: run `apt-get install valgrind`", file=sys.stderr)
        return 1
    settings = parse_args(["--smoke"])
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="entitlements-bench-"))
        database_url = stack.enter_context(settings.server.database(DATABASE_PREFIX))
        env = environment(database_url, tmp)
        cli(env, tmp, "db upgrade")
        env["BENCH_KEY"] = seed(env, tmp, database_url)
        env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR), env.get("PYTHONPATH", "")])
        runs = [(t, n) for t in TARGETS for n in (BASE, BASE + args.requests)]
        print(f"== counting {len(runs)} runs under callgrind, two at a time", flush=True)
        with ThreadPoolExecutor(2) as pool:
            measured = pool.map(lambda run: count_instructions(run[0], run[1], env, tmp), runs)
            counts = dict(zip(runs, measured, strict=True))
    per_request = {
        t: (counts[t, BASE + args.requests] - counts[t, BASE]) / args.requests for t in TARGETS
    }
    print(f"{'target':8}{'instructions/request':>22}{'vs bare':>10}")
    for target, value in per_request.items():
        print(f"{target:8}{value:>22,.0f}{value / per_request['bare']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
