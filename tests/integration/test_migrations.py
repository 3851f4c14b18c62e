"""Alembic migrations on each engine, on a database of their own (never the shared one)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from entitlements import db
from entitlements.app import create_app
from entitlements.db import make_engine
from entitlements.migrate import alembic_config, current_revision, downgrade, upgrade
from entitlements.models import Base
from tests.conftest import SECRET, _create_postgres_database, _drop_postgres_database

MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture
def empty_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database on the engine of this run's `database_url`, dropped afterwards."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


def revisions_base_to_head(url: str) -> list[Any]:
    """Return the shipped revisions in upgrade order."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return list(reversed(list(script.walk_revisions("base", "heads"))))


def head(url: str) -> str:
    value = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert value is not None
    return value


def schema(url: str) -> dict[str, Any]:
    """Describe tables, columns, indexes, keys and (PostgreSQL) sequences as plain data."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            tables: dict[str, Any] = {}
            for name in sorted(inspector.get_table_names()):
                tables[name] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"])
                        for c in inspector.get_columns(name)
                    ],
                    "pk": inspector.get_pk_constraint(name)["constrained_columns"],
                    "indexes": sorted(
                        (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                        for i in inspector.get_indexes(name)
                    ),
                    "unique": sorted(
                        (u["name"], tuple(u["column_names"]))
                        for u in inspector.get_unique_constraints(name)
                    ),
                    "fks": sorted(
                        (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                        for f in inspector.get_foreign_keys(name)
                    ),
                }
            sequences = (
                sorted(inspector.get_sequence_names())
                if connection.dialect.name == "postgresql"
                else []
            )
            return {"tables": tables, "sequences": sequences, "triggers": triggers(connection)}
    finally:
        engine.dispose()


def triggers(connection: Any) -> list[str]:
    """Name the triggers (and, on PostgreSQL, the functions they call): the inspector cannot."""
    if connection.dialect.name == "postgresql":
        query = (
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal UNION ALL "
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        )
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return sorted(connection.exec_driver_sql(query).scalars())


def table_names(url: str) -> set[str]:
    return set(schema(url)["tables"])


def schema_differences(url: str) -> list[Any]:
    """Return what autogenerate would change to make the database match the models."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "target_metadata": Base.metadata,
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_the_revision_history_is_one_line_from_base_to_a_single_head(empty_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_url))
    assert len(script.get_heads()) == 1
    revisions = revisions_base_to_head(empty_url)
    assert revisions[0].down_revision is None
    for previous, revision in itertools.pairwise(revisions):
        assert revision.down_revision == previous.revision
    assert revisions[-1].revision == head(empty_url)


def test_upgrade_to_head_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    upgrade(empty_url)
    assert current_revision(empty_url) == head(empty_url)
    assert table_names(empty_url) == MODEL_TABLES | {"alembic_version"}
    migrated = schema(empty_url)

    downgrade(empty_url, "base")
    assert current_revision(empty_url) is None
    left = schema(empty_url)
    assert set(left["tables"]) <= {"alembic_version"}
    assert left["sequences"] == []

    upgrade(empty_url)
    assert current_revision(empty_url) == head(empty_url)
    assert schema(empty_url) == migrated


def test_each_revision_steps_up_and_down_cleanly(empty_url: str) -> None:
    revisions = revisions_base_to_head(empty_url)
    assert revisions
    before = schema(empty_url)
    for revision in revisions:
        upgrade(empty_url, revision.revision)
        assert current_revision(empty_url) == revision.revision
        after = schema(empty_url)
        assert after != before, f"revision {revision.revision} changed nothing"

        downgrade(empty_url, revision.down_revision or "base")
        assert current_revision(empty_url) == revision.down_revision
        restored = schema(empty_url)
        # Alembic keeps its own (empty) version table after the first step down.
        restored["tables"].pop("alembic_version", None)
        expected = {**before, "tables": dict(before["tables"])}
        expected["tables"].pop("alembic_version", None)
        assert restored == expected, f"downgrade of {revision.revision} left changes behind"

        upgrade(empty_url, revision.revision)
        assert schema(empty_url) == after
        before = after
    assert current_revision(empty_url) == head(empty_url)


def test_migrated_schema_matches_the_models_exactly(empty_url: str) -> None:
    upgrade(empty_url)
    assert schema_differences(empty_url) == []


def test_an_empty_database_differs_from_the_models(empty_url: str) -> None:
    """The comparison above is not vacuous: it does see missing tables."""
    differences = schema_differences(empty_url)
    added = {diff[1].name for diff in differences if diff[0] == "add_table"}
    assert added == MODEL_TABLES


def test_the_app_never_migrates_at_start_up(empty_url: str, tmp_path: Path) -> None:
    app = create_app(
        {
            "DATABASE_URL": empty_url,
            "SECRET_KEY": SECRET,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "ENV": "test",
            "TESTING": True,
        }
    )
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json == {"status": "ready"}
    finally:
        with app.app_context():
            db.engine().dispose()
    assert table_names(empty_url) == set()
    assert current_revision(empty_url) is None
