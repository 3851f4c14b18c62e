"""The PostgreSQL server a benchmark runs on: its options, a throwaway database, backends."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"
CLIENT_BACKENDS = ("client backend",)


def add_postgres_options(parser: argparse.ArgumentParser) -> None:
    """Add --postgres and --admin-db, the options every PostgreSQL benchmark takes."""
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", DEFAULT_SERVER),
        help="PostgreSQL server URL without a database (env BENCH_POSTGRES)",
    )
    parser.add_argument(
        "--admin-db", default="test", help="database to connect to for CREATE/DROP DATABASE"
    )


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server (URL without a database) and the database to administer it from."""

    url: str
    admin_db: str

    def admin_connect(self) -> Any:
        """Connect to the admin database with autocommit (CREATE/DROP DATABASE need it)."""
        import psycopg

        return psycopg.connect(f"{self.url}/{self.admin_db}", autocommit=True)

    def version(self) -> str:
        """Return the server's version."""
        with self.admin_connect() as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    @contextlib.contextmanager
    def database(self, prefix: str) -> Iterator[str]:
        """Create `<prefix>_<pid>`, yield its URL and drop it afterwards, always."""
        from psycopg import sql

        database = f"{prefix}_{os.getpid()}"
        name = sql.Identifier(database)
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        try:
            yield f"{self.url}/{database}"
        finally:
            with self.admin_connect() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            print(f"dropped database {database}")

    def backend_pids(
        self, database_url: str, kinds: tuple[str, ...] = CLIENT_BACKENDS
    ) -> list[int]:
        """Return the backends of the given types connected to the benchmark's database."""
        database = database_url.rsplit("/", 1)[1]
        with self.admin_connect() as conn:
            rows = conn.execute(
                """SELECT pid FROM pg_stat_activity WHERE datname = %s
                   AND backend_type = ANY(%s) AND pid <> pg_backend_pid()""",
                [database, list(kinds)],
            ).fetchall()
        return [row[0] for row in rows]
