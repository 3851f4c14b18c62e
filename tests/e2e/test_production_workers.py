"""`entitlements serve --workers 4` in production mode on PostgreSQL, driven concurrently.

The service once shared its master's database socket with every forked worker: a made-up
service key was answered as a real one and valid keys got spurious 401s. This runs it as a
publisher does and checks the answers, the audit trail and who owns which database socket.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text

from entitlements.migrate import upgrade
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.support.serve import cli, create_key, production_env, request, serve

WORKERS = 4
CLIENTS = 10
SECONDS = 6.0
ACCOUNT = "reader-1"

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    database_url: str
    keys: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A production server with four workers on its own PostgreSQL database."""
    database_url = _create_postgres_database()
    try:
        upgrade(database_url)
        folder = tmp_path_factory.mktemp("production")
        env = production_env(database_url, folder / "instance")
        cli(env, "signing-keys", "rotate")
        keys = {
            scope: create_key(env, f"svc-{n}", scope)
            for n, scope in enumerate(("entitlements:read", "tokens:issue", "admin"))
        }
        with serve(env, folder, workers=WORKERS) as served:
            yield Server(served.url, served.process, database_url, keys)
    finally:
        _drop_postgres_database(database_url)


def made_up_key() -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "ent_sk_" + "".join(random.choice(alphabet) for _ in range(43))


def operations(keys: dict[str, str]) -> list[tuple[str, str, str, str, object]]:
    """(name, scope, method, path, body) of every kind of call the clients make."""
    grant = {"account_id": ACCOUNT, "feature": "ad_free", "reason": "load test"}
    return [
        ("check", "entitlements:read", "GET", f"/v1/accounts/{ACCOUNT}/entitlements", None),
        ("token", "tokens:issue", "POST", f"/v1/accounts/{ACCOUNT}/tokens", {}),
        ("audit", "admin", "GET", f"/v1/admin/audit?account_id={ACCOUNT}&limit=5", None),
        ("grants", "admin", "GET", f"/v1/admin/grants?account_id={ACCOUNT}", None),
        ("grant", "admin", "POST", "/v1/admin/grants", grant),
    ]


def drive(server: Server) -> Counter[tuple[str, str, int]]:
    """Run CLIENTS threads for SECONDS; count (who, operation, status)."""
    results: Counter[tuple[str, str, int]] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    ops = operations(server.keys)

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            roll = rng.random()
            if roll < 0.15:
                status, body = request(server.url, "GET", "/.well-known/jwks.json", None)
                outcome = ("anyone", "jwks", status)
                if status == 200:
                    assert json.loads(body)["keys"], "an empty JWKS"
            else:
                name, scope, method, path, payload = rng.choice(ops)
                who = "made-up" if roll < 0.55 else "valid"
                key = made_up_key() if who == "made-up" else server.keys[scope]
                status, _ = request(server.url, method, path, key, payload)
                outcome = (who, name, status)
            with lock:
                results[outcome] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def postgres_sockets(pid: int) -> set[tuple[int, int]]:
    """Return (socket inode, local port) of every TCP connection `pid` holds to port 5432."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                parts = line.split()
                local, remote, inode = parts[1], parts[2], int(parts[9])
                if int(remote.rsplit(":", 1)[1], 16) == 5432 and inode in inodes:
                    found.add((inode, int(local.rsplit(":", 1)[1], 16)))
    return found


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(p) for p in listing.read().split()]


def test_production_workers_never_confuse_keys_and_own_their_connections(server: Server) -> None:
    results = drive(server)
    by_who: Counter[str] = Counter()
    for (who, name, status), count in results.items():
        by_who[who] += count
        if who == "made-up":
            assert status == 401, f"a made-up key got {status} on {name} ({count} times)"
        elif who == "valid":
            assert 200 <= status < 300, f"a valid key got {status} on {name} ({count} times)"
        else:
            assert status == 200, f"the JWKS answered {status} ({count} times)"
    # Enough load to mean something: every kind of call, from both kinds of caller.
    assert by_who["made-up"] >= 100
    assert by_who["valid"] >= 100
    assert by_who["anyone"] >= 20
    for name, *_ in operations(server.keys):
        assert results["made-up", name, 401] > 0, name
        assert any(n == name for (who, n, _) in results if who == "valid"), name

    # Every grant the valid admin key made is in the audit log under its own name, and none
    # other: a made-up key created nothing.
    engine = create_engine(server.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        granted = connection.scalar(text("SELECT count(*) FROM grants"))
        actors = connection.execute(
            text("SELECT actor, count(*) FROM audit_events WHERE action = 'grant.add' GROUP BY 1")
        ).all()
        backends = set(
            connection.scalars(
                text(
                    "SELECT client_port FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        )
    engine.dispose()
    assert granted == results["valid", "grant", 201]
    assert actors == [("key:svc-2", granted)]

    # The master holds no database connection; each worker holds its own, shared with no
    # other process (a socket inherited through fork has the same inode in both).
    master = server.process.pid
    workers = children(master)
    assert len(workers) == WORKERS
    assert postgres_sockets(master) == set()
    owned = {pid: postgres_sockets(pid) for pid in workers}
    for pid, sockets in owned.items():
        assert sockets, f"worker {pid} holds no database connection of its own"
    all_inodes = [inode for sockets in owned.values() for inode, _ in sockets]
    assert len(all_inodes) == len(set(all_inodes)), "two processes share a database socket"
    ports = {port for sockets in owned.values() for _, port in sockets}
    assert ports <= backends
