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
   (`bare_app()` below: one route returning constant JSON) under gunicorn with identical
   settings: sync workers, the same worker count, 127.0.0.1, access log off, same environment;
3. checks one answer of each target (a Plus subscriber; a token that verifies against the JWKS),
   then loads each target in turn, after a warm-up, for a fixed time at a fixed concurrency
   from separate load processes (`_load.py`: raw sockets, HTTP/1.1, keep-alive asked for);
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

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from _load import (
    LoadJob,
    LoadResult,
    build_request,
    cpu_seconds,
    group_pids,
    ignore_interrupts,
    machine_busy_seconds,
    percentile,
    run_load,
)
from _servers import HOST, Server, die_with_parent, exit_on_signal, free_port, stop_server
from flask import Flask

BENCH_DIR = Path(__file__).resolve().parent
ACCOUNT = "reader-1"
SECRET_KEY = "bench-secret-key-0123456789abcdef-not-for-production"  # noqa: S105
ORDER = ("bare", "check", "token")  # loading order of odd rounds; even rounds reverse it
GOALS = {"check": 0.45, "token": 0.50}  # minimum requests/s as a fraction of the bare route
LABELS = {"check": "check endpoint", "token": "token issue"}
FILLER_ACCOUNTS = 5000
OTHER_LOAD_WARNING = 0.10  # share of the machine used by foreign processes worth a warning
EXIT_ERRORS = 1
EXIT_BELOW_TARGET = 3
SMOKE_VERDICT = "not judged (smoke run)"


def bare_app() -> Flask:
    """Return the baseline: a bare Flask app with one route answering constant JSON."""
    app = Flask("bare")

    @app.get("/bare")
    def bare() -> dict[str, bool]:
        return {"ok": True}

    return app


# ---- settings and machine -----------------------------------------------------------------


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
    add(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database (env BENCH_POSTGRES)",
    )
    add("--admin-db", default="test", help="database to connect to for CREATE/DROP DATABASE")
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


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's guess."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(server_version: str) -> dict[str, str]:
    """Describe the machine and the software under test."""
    from importlib.metadata import version

    usable = len(os.sched_getaffinity(0))
    return {
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "cpu": cpu_model(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{name} {version(name)}" for name in ("flask", "gunicorn", "sqlalchemy", "psycopg")
        ),
        "postgresql": server_version,
    }


# ---- database and CLI ---------------------------------------------------------------------


def admin_connect(settings: Settings) -> Any:
    """Connect to the admin database with autocommit (CREATE/DROP DATABASE need it)."""
    import psycopg

    return psycopg.connect(f"{settings.postgres}/{settings.admin_db}", autocommit=True)


@contextlib.contextmanager
def bench_database(settings: Settings) -> Iterator[str]:
    """Create `entitlements_bench_<pid>`, yield its URL and drop it afterwards, always."""
    from psycopg import sql

    name = sql.Identifier(f"entitlements_bench_{os.getpid()}")
    with admin_connect(settings) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield f"{settings.postgres}/entitlements_bench_{os.getpid()}"
    finally:
        with admin_connect(settings) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        print(f"dropped database entitlements_bench_{os.getpid()}")


def app_environment(database_url: str, instance_path: str) -> dict[str, str]:
    """Return the environment of the CLI and of both servers (the same for both servers)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ENTITLEMENTS_") and k != "GUNICORN_CMD_ARGS"
    }
    env.update(
        ENTITLEMENTS_ENV="test",
        ENTITLEMENTS_DATABASE_URL=database_url,
        ENTITLEMENTS_SECRET_KEY=SECRET_KEY,
        ENTITLEMENTS_INSTANCE_PATH=instance_path,
        ENTITLEMENTS_LOG_LEVEL="WARNING",
    )
    return env


def entitlements_command() -> list[str]:
    """Return the argv prefix of the `entitlements` command installed with this interpreter."""
    script = Path(sys.executable).parent / "entitlements"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from entitlements.cli import main; main()"]


def cli(env: dict[str, str], cwd: str, command: str, *args: str) -> str:
    """Run `entitlements COMMAND ARGS` (COMMAND split on spaces); return its stdout, or raise
    with its error output if it fails."""
    argv = [*command.split(), *args]
    done = subprocess.run(
        [*entitlements_command(), *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`entitlements {' '.join(argv)}` exited {done.returncode}:\n{done.stderr}"
        )
    return done.stdout


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(env: dict[str, str], cwd: str, database_url: str) -> str:
    """Create the service key and signing key and seed the accounts; return the key."""
    import psycopg

    scopes = "--scope entitlements:read --scope tokens:issue"
    key = cli(env, cwd, f"service-keys create --name bench {scopes}").splitlines()[-1].strip()
    cli(env, cwd, "signing-keys rotate")
    now = datetime.now(UTC).replace(microsecond=0)
    year, week = _iso(now + timedelta(days=365)), _iso(now + timedelta(days=7))
    cli(env, cwd, f"grants add {ACCOUNT} --feature comment --reason bench")
    cli(env, cwd, f"grants add {ACCOUNT} --feature archive --until {year} --reason", "print sub")
    ban = cli(env, cwd, f"bans add {ACCOUNT} --feature comment --until {week} --reason", "heated")
    ban_id = ban.split()[1].rstrip(":")  # "ban 3: reader-1 may not comment until ..."
    cli(env, cwd, f"bans lift {ban_id} --reason", "appeal granted")
    cli(env, cwd, "bans add troll-1 --feature comment --reason", "abuse")
    day = timedelta(days=1)
    with psycopg.connect(database_url) as conn:
        # The reader is a Plus subscriber: the rows billing sync would have written.
        conn.execute(
            "UPDATE accounts SET stripe_customer_id = 'cus_bench_1' WHERE id = %s", [ACCOUNT]
        )
        conn.execute(
            """INSERT INTO subscriptions (id, account_id, customer_id, status, lookup_keys,
                   price_ids, current_period_start, current_period_end, cancel_at_period_end,
                   livemode, created_at, synced_at)
               VALUES ('sub_bench_1', %s, 'cus_bench_1', 'active', 'plus_monthly',
                   'price_bench_monthly', %s, %s, false, false, %s, %s)""",
            [ACCOUNT, now - 10 * day, now + 20 * day, now - 400 * day, now],
        )
        # Other readers: subscribers (some canceled), a quarter with a grandfathered grant.
        conn.execute(
            """INSERT INTO accounts (id, stripe_customer_id, token_version, created_at)
               SELECT 'filler-' || n, 'cus_filler_' || n, 0, %s
               FROM generate_series(1, %s) AS n""",
            [now - 30 * day, FILLER_ACCOUNTS],
        )
        conn.execute(
            """INSERT INTO subscriptions (id, account_id, customer_id, status, lookup_keys,
                   price_ids, current_period_start, current_period_end, cancel_at_period_end,
                   livemode, created_at, synced_at)
                SELECT 'sub_filler_' || n, 'filler-' || n, 'cus_filler_' || n,
                    CASE WHEN n %% 10 = 0 THEN 'canceled' ELSE 'active' END,
                    CASE WHEN n %% 3 = 0 THEN 'plus_annual' ELSE 'plus_monthly' END,
                    'price_filler', %s, %s, n %% 7 = 0, false, %s, %s
                FROM generate_series(1, %s) AS n""",
            [now - 5 * day, now + 25 * day, now - 30 * day, now, FILLER_ACCOUNTS],
        )
        conn.execute(
            """INSERT INTO grants (account_id, feature, kind, starts_at, ends_by_policy, reason,
                   actor, created_at)
               SELECT 'filler-' || n, 'comment', 'grandfather', %s, false, 'bench', 'bench', %s
               FROM generate_series(1, %s, 4) AS n""",
            [now - 30 * day, now - 30 * day, FILLER_ACCOUNTS],
        )
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Leave autovacuum nothing to do during the windows.
        conn.execute("VACUUM (ANALYZE)")
    return key


def backend_pids(settings: Settings, database_url: str) -> list[int]:
    """Return the PostgreSQL client backends connected to the benchmark's database."""
    database = database_url.rsplit("/", 1)[1]
    with admin_connect(settings) as conn:
        rows = conn.execute(
            """SELECT pid FROM pg_stat_activity
               WHERE datname = %s AND backend_type = 'client backend'""",
            [database],
        ).fetchall()
    return [row[0] for row in rows]


# ---- servers ------------------------------------------------------------------------------


def start_server(name: str, app: str, *, workers: int, env: dict[str, str], cwd: str) -> Server:
    """Start `gunicorn APP` on a free port, in a new session (its own process group)."""
    port = free_port()
    log_path = Path(cwd) / f"gunicorn-{name}.log"
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers)]
    command += ["--worker-class", "sync", "--bind", f"{HOST}:{port}", "--timeout", "60"]
    # No --access-logfile: gunicorn's access log is off by default.
    command += ["--log-level", "warning", "--pythonpath", str(BENCH_DIR), app]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,  # an empty folder: no stray gunicorn.conf.py is picked up
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509  (the benchmark has no threads)
        )
    return Server(name, port, process, log_path)


def wait_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    """Wait until `GET path` answers 200; raise with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.process.poll() is None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.1)
    raise RuntimeError(f"the {server.name} server did not become ready:\n{server.log_tail()}")


# ---- targets and their checks -------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One endpoint under load."""

    name: str
    server: Server
    method: str
    path: str
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def raw_request(self) -> bytes:
        """Return the bytes the load processes send."""
        return build_request(
            self.method,
            self.path,
            host=HOST,
            port=self.server.port,
            headers=self.headers,
            body=self.body,
        )

    def call(self) -> tuple[int, Any]:
        """Send the request once with http.client; return the status and the decoded JSON."""
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        try:
            conn.request(self.method, self.path, body=self.body or None, headers=self.headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        return response.status, json.loads(data) if data else None


def make_targets(app: Server, bare: Server, key: str) -> dict[str, Target]:
    """Return the three targets: the check, a token issue and the bare route."""
    auth = {"Authorization": f"Bearer {key}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    return {
        "bare": Target("bare", bare, "GET", "/bare", 200),
        "check": Target("check", app, "GET", f"/v1/accounts/{ACCOUNT}/entitlements", 200, auth),
        "token": Target(
            "token", app, "POST", f"/v1/accounts/{ACCOUNT}/tokens", 201, json_auth,
            b'{"audience": "site"}',
        ),
    }  # fmt: skip


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify_answers(targets: dict[str, Target]) -> str:
    """Check one answer of each target for the right content; return a summary line."""
    import jwt

    status, body = targets["bare"].call()
    if status != 200 or body != {"ok": True}:
        raise RuntimeError(f"the bare route answered {status}: {body}")
    status, body = targets["check"].call()
    if status != 200 or body.get("plan") != "plus" or len(body.get("features", ())) != 4:
        raise RuntimeError(f"the check answered {status}: {body}; expected a Plus subscriber")
    summary = f"{ACCOUNT}: plan plus, {','.join(body['features'])}, {len(body['sources'])} sources"
    status, issued = targets["token"].call()
    if status != 201 or "token" not in issued:
        raise RuntimeError(f"the token endpoint answered {status}: {issued}")
    conn = http.client.HTTPConnection(HOST, targets["check"].server.port, timeout=10)
    conn.request("GET", "/.well-known/jwks.json")
    keys = json.loads(conn.getresponse().read())["keys"]
    conn.close()
    header = _b64json(issued["token"].split(".")[0])
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(issued["token"], key, algorithms=["ES256"], audience="site")
    if claims["sub"] != ACCOUNT or claims["plan"] != "plus":
        raise RuntimeError(f"the token's claims are wrong: {claims}")
    return f"{summary}; token {header['alg']} verifies against the JWKS"


# ---- load ---------------------------------------------------------------------------------


@dataclass
class Measured:
    """What loading one target gave, summed over rounds."""

    target: str
    expect: int
    result: LoadResult = field(default_factory=LoadResult)
    seconds: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    busy_cpu: float = 0.0
    warmup_errors: int = 0

    @property
    def ok(self) -> int:
        """Good responses completed inside the windows."""
        return len(self.result.latencies)

    @property
    def done(self) -> int:
        """Responses completed, inside the windows or while draining after them."""
        return self.ok + self.result.completed_late

    @property
    def errors(self) -> int:
        """Failed requests, in the windows and in the warm-ups."""
        return self.result.errors + self.warmup_errors

    @property
    def rps(self) -> float:
        """Good responses per second of window."""
        return self.ok / self.seconds if self.seconds else 0.0

    def latency_ms(self, fraction: float) -> float:
        """Return a latency percentile in milliseconds."""
        return percentile(sorted(self.result.latencies), fraction) * 1000

    def per_request_ms(self, cpu: float) -> float:
        """Return CPU seconds per completed request, in milliseconds."""
        return cpu / self.done * 1000 if self.done else float("nan")

    @property
    def other_share(self) -> float:
        """The share of the machine's CPU used by processes outside the benchmark."""
        ours = self.server_cpu + self.db_cpu + self.result.cpu_seconds
        capacity = self.seconds * (os.cpu_count() or 1)
        return max(self.busy_cpu - ours, 0.0) / capacity if capacity else 0.0


@dataclass(frozen=True)
class Bench:
    """What loading needs besides the target: the settings, load processes and database."""

    settings: Settings
    pool: Pool
    database_url: str


def load(bench: Bench, target: Target, seconds: float, into: Measured) -> None:
    """Load a target from every load process at once for `seconds`; add the outcome to `into`."""
    settings = bench.settings
    base, extra = divmod(settings.concurrency, settings.clients)
    start_at = time.monotonic() + 0.3  # every load process opens the window at this instant
    jobs = [
        LoadJob(
            host=HOST,
            port=target.server.port,
            request=target.raw_request(),
            expect=target.expect,
            connections=base + (1 if i < extra else 0),
            start_at=start_at,
            seconds=seconds,
            timeout=settings.timeout,
        )
        for i in range(settings.clients)
    ]
    pending = bench.pool.map_async(run_load, jobs)
    servers = group_pids(target.server.pgid)
    backends = backend_pids(settings, bench.database_url)
    time.sleep(max(start_at - time.monotonic(), 0))
    before = cpu_seconds(servers), cpu_seconds(backends), machine_busy_seconds()
    parts = pending.get(timeout=seconds + settings.timeout + 60)
    after = cpu_seconds(servers), cpu_seconds(backends), machine_busy_seconds()
    for part in parts:
        into.result.merge(part)
    into.seconds += seconds
    into.server_cpu += after[0] - before[0]
    into.db_cpu += after[1] - before[1]
    into.busy_cpu += after[2] - before[2]


def warm_up(bench: Bench, target: Target, into: Measured) -> None:
    """Load a target untimed (connection pools, caches, the signing key); count its errors."""
    if bench.settings.warmup > 0:
        scratch = Measured(target.name, target.expect)
        load(bench, target, bench.settings.warmup, scratch)
        into.warmup_errors += scratch.result.errors
        for sample in scratch.result.error_samples:
            into.result.add_error_sample(sample)


# ---- report -------------------------------------------------------------------------------


def report(measured: dict[str, Measured], *, smoke: bool) -> tuple[int, bool]:
    """Print the table and the targets; return (failed requests, every target met).

    A smoke run is too short to judge a target: it prints its ratios without a verdict.
    """
    bare = measured["bare"].rps
    columns = (
        f"{'target':<7}{'requests/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'vs bare':>9}"
        f"{'app CPU':>9}{'db CPU':>8}{'gen CPU':>9}{'other %':>9}{'errors':>8}"
    )
    print(columns)
    print(f"{'':<43}{'(ms of CPU per request)':>26}")
    print("-" * len(columns))
    for name in ("check", "token", "bare"):
        m = measured[name]
        ratio = m.rps / bare if bare else float("nan")
        print(
            f"{name:<7}{m.rps:>11,.0f}{m.latency_ms(0.50):>8.2f}{m.latency_ms(0.99):>8.2f}"
            f"{ratio:>9.3f}{m.per_request_ms(m.server_cpu):>9.3f}"
            f"{m.per_request_ms(m.db_cpu):>8.3f}{m.per_request_ms(m.result.cpu_seconds):>9.3f}"
            f"{100 * m.other_share:>9.1f}{m.errors:>8}"
        )
    print()
    met = True
    for name, goal in GOALS.items():
        m = measured[name]
        ratio = m.rps / bare if bare else 0.0
        met = met and ratio >= goal
        verdict = SMOKE_VERDICT if smoke else "PASS" if ratio >= goal else "BELOW"
        cpu_ratio = measured["bare"].per_request_ms(measured["bare"].server_cpu) / (
            m.per_request_ms(m.server_cpu + m.db_cpu)
        )
        print(
            f"target {LABELS[name]:<15} >= {goal:.2f} x bare requests/s: {ratio:.3f}  {verdict:<5}"
            f"  (bare / app+db CPU per request: {cpu_ratio:.3f})"
        )
    errors = 0
    for name in ORDER:
        m = measured[name]
        errors += m.errors
        if m.errors:
            others = {s: n for s, n in m.result.statuses.items() if s != m.expect}
            print(
                f"ERRORS {name}: {m.result.errors} in the windows, {m.warmup_errors} in warm-ups,"
                f" other statuses {others}"
            )
            for sample in m.result.error_samples:
                print(f"    {sample}")
        if m.result.reused:
            print(f"note: {name}: {m.result.reused} requests reused a kept-alive connection")
        if m.other_share > OTHER_LOAD_WARNING:
            print(
                f"WARNING {name}: processes outside the benchmark used "
                f"{100 * m.other_share:.0f} % of the machine; its numbers are unreliable"
            )
    return errors, met


def write_json(path: str, measured: dict[str, Measured], settings: Settings, info: Any) -> None:
    """Write the settings, machine and results as JSON (a CI artefact)."""
    bare = measured["bare"].rps
    results = {
        name: {
            "requests_per_second": m.rps,
            "p50_ms": m.latency_ms(0.50),
            "p99_ms": m.latency_ms(0.99),
            "ratio_vs_bare": m.rps / bare if bare else None,
            "app_cpu_ms_per_request": m.per_request_ms(m.server_cpu),
            "db_cpu_ms_per_request": m.per_request_ms(m.db_cpu),
            "generator_cpu_ms_per_request": m.per_request_ms(m.result.cpu_seconds),
            "other_load_share": m.other_share,
            "good_responses": m.ok,
            "errors": m.errors,
        }
        for name, m in measured.items()
    }
    data = {"settings": asdict(settings), "machine": info, "goals": GOALS, "results": results}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# ---- main ---------------------------------------------------------------------------------


def print_header(settings: Settings, info: dict[str, str]) -> None:
    """Print the machine and the settings."""
    print("== machine")
    for key, value in info.items():
        print(f"  {key:<13} {value}")
    print("== settings")
    rounds = f" x {settings.rounds} rounds" if settings.rounds > 1 else ""
    print(
        f"  {settings.seconds:g} s per target{rounds}, each after a {settings.warmup:g} s "
        f"warm-up; {settings.concurrency} requests in flight from {settings.clients} load "
        f"process(es); gunicorn sync workers: {settings.workers} per server; request timeout "
        f"{settings.timeout:g} s{'; smoke mode' if settings.smoke else ''}"
    )


def run(settings: Settings) -> int:
    """Set up, measure, report and clean up; return the exit status."""
    started = time.monotonic()
    with admin_connect(settings) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]
    info = machine_info(server_version)
    print_header(settings, info)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="entitlements-bench-"))
        database_url = stack.enter_context(bench_database(settings))
        print(f"== setup: database {database_url.rsplit('/', 1)[1]}", flush=True)
        env = app_environment(database_url, tmp)
        cli(env, tmp, "db upgrade")
        servers = {}
        for name, app in (
            ("app", "entitlements.app:create_app()"),
            ("bare", "http_api:bare_app()"),
        ):
            servers[name] = start_server(name, app, workers=settings.workers, env=env, cwd=tmp)
            stack.callback(stop_server, servers[name])
        key = seed(env, tmp, database_url)  # while the servers boot
        wait_ready(servers["app"], "/healthz")
        wait_ready(servers["bare"], "/bare")
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
    import psycopg

    settings = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    try:
        return run(settings)
    except (
        RuntimeError,
        OSError,
        subprocess.SubprocessError,
        multiprocessing.ProcessError,
        psycopg.Error,
    ) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
