"""Run Alembic migrations from the installed package (no alembic.ini, no checkout needed)."""

from __future__ import annotations

import importlib.util
import os

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .db import make_engine


def script_location() -> str:
    """Return the folder of the migration scripts, installed or in a checkout."""
    spec = importlib.util.find_spec("entitlements.migrations")
    if spec is not None and spec.submodule_search_locations:
        return str(next(iter(spec.submodule_search_locations)))
    # Running from a checkout without installing: migrations/ sits beside the package.
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


def alembic_config(url: str) -> AlembicConfig:
    """Return an Alembic config for `url`."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", script_location())
    # ConfigParser interpolation would choke on a '%' in a password.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision`."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """Return the database's current revision, or None before the first migration."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision(url: str) -> str | None:
    """Return the newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()
