"""`entitlements db upgrade|downgrade|current`: migrations, never run at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping

import click

from ..config import ConfigError
from .common import fail


@click.group("db")
def db_group() -> None:
    """Database migrations (the service never migrates at start-up)."""


def database_url(overrides: Mapping[str, str] | None = None) -> str:
    """Return the configured database URL (a SQLite file's folder made), or fail."""
    from ..config import load_config

    try:
        config = load_config(overrides)
    except ConfigError as exc:
        fail(f"configuration: {exc}")
    if config.database_url.startswith("sqlite:///"):
        os.makedirs(config.instance_path, exist_ok=True)
    return config.database_url


def upgrade_database(revision: str, overrides: Mapping[str, str] | None = None) -> None:
    """Migrate the database up to `revision` and say so."""
    from alembic.util import CommandError

    from ..migrate import upgrade

    try:
        upgrade(database_url(overrides), revision)
    except CommandError as exc:
        fail(f"{exc} (see `entitlements db current`)")
    click.echo(f"database at {revision}")


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    upgrade_database(revision)


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (`base` removes every table)."""
    from alembic.util import CommandError

    from ..migrate import downgrade

    try:
        downgrade(database_url(), revision)
    except CommandError as exc:
        fail(f"{exc} (see `entitlements db current`)")
    click.echo(f"database at {revision}")


@db_group.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this package ships."""
    from ..migrate import current_revision, head_revision

    url = database_url()
    click.echo(f"current: {current_revision(url) or 'none'}\nhead: {head_revision(url)}")
