"""Alembic environment: the URL comes from the caller (`entitlements db ...`), never a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from entitlements.db import make_engine
from entitlements.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "run migrations through `entitlements db upgrade`, which sets the URL"


def run_migrations_online() -> None:
    """Run migrations in one transaction per run (PostgreSQL DDL is transactional)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Fail fast instead of queueing behind a long transaction and blocking traffic.
                connection.execute(text("SET lock_timeout = '5s'"))
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


run_migrations_online()
