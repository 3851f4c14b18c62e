"""The `entitlements` command line: serve, migrate, keys, grants, bans, accounts, demo data."""

from __future__ import annotations

import functools
import getpass
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .clock import parse_datetime, to_rfc3339
from .config import ConfigError
from .text_rules import text_problem

if TYPE_CHECKING:
    from flask import Flask

# Flask, SQLAlchemy, Stripe and the models load inside the commands that use them, never at
# import: `--help` and usage errors answer at once (tests/functional/test_cli_startup.py).

F = TypeVar("F", bound=Callable[..., Any])
USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Print a one-line error to stderr and exit with `code` (2: bad input)."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def cli_actor() -> str:
    """Return the audit actor of a CLI command: the operator's login on this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def with_app(command: F) -> F:
    """Run a command inside an app context; domain errors become one-line errors, exit 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from . import db
        from .app import create_app
        from .errors import DomainError

        try:
            app = create_app()
        except ConfigError as exc:
            fail(f"configuration: {exc}")
        with app.app_context():
            try:
                return command(app, *args, **kwargs)
            except DomainError as exc:
                db.session().rollback()
                code = 1 if exc.status >= 500 else USAGE_ERROR
                fail(exc.detail, code)
            finally:
                db.session().close()
                db.dispose(app)

    return wrapper  # type: ignore[return-value]


def parse_until(value: str | None) -> datetime | None:
    """Parse an --until option, or fail with exit status 2."""
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        fail(f"--until {value!r} is not an ISO 8601 time such as 2025-06-30T00:00:00Z")


def check_arguments(argv: list[str]) -> None:
    """Fail with exit status 2 naming the first argument that breaks the text rules."""
    # Python decodes invalid UTF-8 in argv to lone surrogates, which no database can store.
    for position, arg in enumerate(argv):
        problem = text_problem(arg)
        if problem is None:
            continue
        if arg.startswith("--") and "=" in arg:
            name = arg.partition("=")[0]
        elif position and argv[position - 1].startswith("-"):
            name = argv[position - 1]
        else:
            name = f"argument {position + 1}"
        fail(f"{name.encode('utf-8', 'backslashreplace').decode()[:64]} {problem}")


class OneLineErrors(click.Group):
    """A command group whose usage errors are one line on stderr with exit status 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the CLI; turn Click's multi-line usage errors into one-line ones."""
        kwargs["standalone_mode"] = False
        argv = kwargs.get("args", args[0] if args else None)
        check_arguments(sys.argv[1:] if argv is None else list(argv))
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as exc:
            fail(f"{exc.format_message()} (see --help)")
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            fail("aborted", 1)
        except ConfigError as exc:
            fail(f"configuration: {exc}", 1)
        except Exception as exc:
            # Imported only once something failed: --help must not pay for SQLAlchemy.
            from sqlalchemy.exc import OperationalError, ProgrammingError

            if not isinstance(exc, OperationalError | ProgrammingError):
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            fail(
                f"the database does not answer or is not migrated "
                f"(check ENTITLEMENTS_DATABASE_URL; run `entitlements db upgrade`): {reason}",
                1,
            )


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="entitlements")
def main() -> None:
    """Entitlements: who may comment, read ad-free, open the archive and the digital edition."""


# ---- database -------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Database migrations (the service never migrates at start-up)."""


def _database_url() -> str:
    from .config import load_config

    try:
        config = load_config()
    except ConfigError as exc:
        fail(f"configuration: {exc}")
    if config.database_url.startswith("sqlite:///"):
        os.makedirs(config.instance_path, exist_ok=True)
    return config.database_url


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    from alembic.util import CommandError

    from .migrate import upgrade

    try:
        upgrade(_database_url(), revision)
    except CommandError as exc:
        fail(f"{exc} (see `entitlements db current`)")
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (`base` removes every table)."""
    from alembic.util import CommandError

    from .migrate import downgrade

    try:
        downgrade(_database_url(), revision)
    except CommandError as exc:
        fail(f"{exc} (see `entitlements db current`)")
    click.echo(f"database at {revision}")


@db_group.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this package ships."""
    from .migrate import current_revision, head_revision

    url = _database_url()
    click.echo(f"current: {current_revision(url) or 'none'}\nhead: {head_revision(url)}")


# ---- serving ----------------------------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn."""
    from .server import run_gunicorn

    try:
        run_gunicorn(host=host, port=port, workers=workers)
    except ConfigError as exc:
        fail(str(exc), 1)


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print rows as aligned columns."""
    if not rows:
        click.echo("(none)")
        return
    cells = [{c: printable(str(r.get(c) or "-")) for c in columns} for r in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in cells:
        click.echo("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())


def printable(value: str) -> str:
    """Escape control characters: stored values (a Stripe event's id, say) never drive the
    operator's terminal."""
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in value)


def when(value: datetime | None) -> str:
    """Format a time for the terminal ('never' for None)."""
    return to_rfc3339(value) or "never"


def runtime_of(app: Flask) -> Any:
    """Return the runtime (config, policy, keys, clock) of `app`."""
    from .runtime import EXTENSION

    return app.extensions[EXTENSION]


# Command groups live in their own modules; importing them registers them on `main`.
from . import cli_access, cli_admins, cli_billing, cli_demo, cli_grandfather, cli_keys  # noqa: E402

__all__ = [
    "cli_access",
    "cli_admins",
    "cli_billing",
    "cli_demo",
    "cli_grandfather",
    "cli_keys",
    "main",
]
