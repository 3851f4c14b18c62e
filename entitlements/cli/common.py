"""What the command groups share: one-line errors, the app context, the actor, table output."""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..clock import parse_datetime, to_rfc3339
from ..config import ConfigError

if TYPE_CHECKING:
    from flask import Flask

    from ..billing.handlers import BillingContext

# Flask, SQLAlchemy, Stripe and the models load inside the commands that use them, never at
# import: `--help` and usage errors answer at once (tests/functional/test_cli_startup.py).

F = TypeVar("F", bound=Callable[..., Any])
USAGE_ERROR = 2
# Row ids are 64-bit: anything larger is bad input, not a database error.
ROW_ID = click.IntRange(1, 2**63 - 1)


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


@contextmanager
def app_context(overrides: Mapping[str, str] | None = None) -> Iterator[Flask]:
    """Yield an app inside its context; domain errors become one-line errors, exit 2."""
    from .. import db
    from ..app import create_app
    from ..errors import DomainError

    try:
        app = create_app(overrides)
    except ConfigError as exc:
        fail(f"configuration: {exc}")
    with app.app_context():
        try:
            yield app
        except DomainError as exc:
            db.session().rollback()
            code = 1 if exc.status >= 500 else USAGE_ERROR
            fail(exc.detail, code)
        finally:
            db.session().close()
            db.dispose(app)


def with_app(command: F) -> F:
    """Run a command inside an app context, the app as its first argument (see app_context)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with app_context() as app:
            return command(app, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def runtime_of(app: Flask) -> Any:
    """Return the runtime (config, policy, keys, clock) of `app`."""
    from ..runtime import EXTENSION

    return app.extensions[EXTENSION]


def billing_context(app: Flask) -> BillingContext:
    """Return a billing context for a CLI command, or fail if billing is not configured."""
    from ..billing.handlers import BillingContext
    from ..services.audit import Actor

    rt = runtime_of(app)
    if rt.gateway is None:
        fail("billing is not configured: set ENTITLEMENTS_STRIPE_SECRET_KEY", 1)
    return BillingContext(
        gateway=rt.gateway,
        revoke_on_refund=rt.config.revoke_on_refund,
        revoke_on_dispute=rt.config.revoke_on_dispute,
        cancel_on_revoke=rt.config.cancel_on_revoke,
        now=rt.clock(),
        actor=Actor(f"{cli_actor()} (reconcile)"),
    )


def parse_until(value: str | None) -> datetime | None:
    """Parse an --until option, or fail with exit status 2."""
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        fail(f"--until {value!r} is not an ISO 8601 time such as 2025-06-30T00:00:00Z")


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
