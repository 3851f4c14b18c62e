"""After PostgreSQL restarts, the first request on a kept idle connection is answered, not 503.

It runs a private PostgreSQL cluster (initdb in a temporary folder, its own port) so that
restarting it disturbs nothing else on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from entitlements.migrate import upgrade
from tests.support.serve import cli, create_key, free_port, production_env, request, serve

pytestmark = pytest.mark.slow
PG_BIN = Path(os.environ.get("ENTITLEMENTS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def as_postgres(*args: str) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


class Cluster:
    """A throwaway PostgreSQL cluster on its own port."""

    def __init__(self, folder: Path) -> None:
        self.data, self.port = folder / "data", free_port()
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        subprocess.run(
            as_postgres(
                str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
            ),
            check=True,
            capture_output=True,
        )
        self.log = folder / "postgres.log"

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        subprocess.run(
            as_postgres(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                *args,
            ),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL's initdb is not in {PG_BIN} (set ENTITLEMENTS_TEST_PG_BIN)")
    # Not under tmp_path: pytest's folders are private to this user, and the server runs as
    # postgres when we are root.
    folder = Path(tempfile.mkdtemp(prefix="entitlements-pg-"))
    cluster = Cluster(folder)
    cluster.pg_ctl("start")
    try:
        yield cluster
    finally:
        try:
            cluster.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def test_first_requests_after_a_database_restart_are_answered(
    cluster: Cluster, tmp_path: Path
) -> None:
    upgrade(cluster.url)
    env = production_env(cluster.url, tmp_path / "instance")
    cli(env, "signing-keys", "rotate")
    calls = [
        ("GET", "/v1/accounts/reader-1/entitlements", create_key(env, "r", "entitlements:read")),
        ("POST", "/v1/accounts/reader-1/tokens", create_key(env, "t", "tokens:issue")),
        ("GET", "/v1/admin/grants?account_id=reader-1", create_key(env, "a", "admin")),
    ]
    # One worker: every request after the restart lands on the connections kept before it.
    with serve(env, tmp_path, workers=1) as served:
        for method, path, key in calls:
            assert request(served.url, method, path, key, {} if method == "POST" else None)[0] in (
                200,
                201,
            ), path

        cluster.pg_ctl("restart", "-m", "fast")

        for method, path, key in calls:
            status, answer = request(
                served.url, method, path, key, {} if method == "POST" else None
            )
            assert status in (200, 201), f"{path} after the restart: {status} {answer!r}"
        assert request(served.url, "GET", "/readyz", None)[0] == 200
