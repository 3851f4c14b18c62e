"""The top-level group's error handling: every usage error is one line on stderr, exit 2."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..config import ConfigError
from ..text_rules import text_problem
from .common import fail


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
