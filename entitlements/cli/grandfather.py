"""`entitlements grandfather import FILE.csv`: bulk-grant commenting to past commenters."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import cli_actor, fail, runtime_of, when, with_app

if TYPE_CHECKING:
    from flask import Flask

    from ..services.grandfather import ImportPlan

# Below this many lines a file is checked in a blink: no progress bar.
PROGRESS_FROM = 10_000


@click.group("grandfather")
def grandfather() -> None:
    """Past commenters, who keep commenting until the grandfather period ends."""


@contextmanager
def _progress(label: str, length: int) -> Iterator[Callable[[int], None] | None]:
    if length < PROGRESS_FROM:
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update


def _print_plan(path: Path, sha256: str, plan: ImportPlan) -> None:
    counts = plan.counts()
    click.echo(f"file:                                 {path} (sha256 {sha256})")
    click.echo(f"cutoff:                               {when(plan.cutoff)}")
    click.echo(f"rows:                                 {counts['rows']}")
    click.echo(f"new:                                  {counts['new']}")
    click.echo(f"already grandfathered:                {counts['already_grandfathered']}")
    click.echo(f"commented after the cutoff (skipped): {counts['after_cutoff']}")
    click.echo(f"invalid:                              {counts['invalid']}")
    for row in plan.invalid:
        click.echo(f"  line {row.line}: {row.reason}")


@grandfather.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--commit", is_flag=True, help="Apply the import (default: a dry run).")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows despite invalid ones.")
@with_app
def grandfather_import(app: Flask, file: Path, commit: bool, skip_invalid: bool) -> None:
    """Grant comment to FILE's past commenters (account_id,last_commented_at); dry run default."""
    from .. import db
    from ..services.audit import Actor
    from ..services.grandfather import (
        apply_import,
        decode_csv,
        file_sha256,
        invalid_summary,
        period_warnings,
        plan_for,
    )

    rt = runtime_of(app)
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}; give the path of a CSV file")
    sha256 = file_sha256(data)
    csv_text = decode_csv(data)
    session = db.session()
    with _progress("checking", csv_text.count("\n")) as progress:
        plan = plan_for(session, csv_text, cutoff=rt.config.grandfather_cutoff, progress=progress)
    _print_plan(file, sha256, plan)
    for warning in period_warnings(rt.config.grandfather_until, now=rt.clock()):
        click.echo(f"warning: {warning}")
    blocked = bool(plan.invalid) and not skip_invalid
    if not commit:
        flags = "--commit --skip-invalid" if plan.invalid else "--commit"
        hint = " (or fix the invalid rows first)" if plan.invalid else ""
        click.echo(
            f"dry run: nothing was written; run again with {flags} to grant comment to "
            f"{len(plan.new)} account(s){hint}"
        )
        return
    if blocked:
        fail(invalid_summary(plan))
    with _progress("importing", len(plan.new)) as progress:
        result = apply_import(
            session,
            plan,
            actor=Actor(cli_actor()),
            now=rt.clock(),
            file_sha256=sha256,
            skip_invalid=skip_invalid,
            progress=progress,
        )
    session.commit()
    if result.grants_created == 0:
        click.echo("nothing to import: every account is already grandfathered or was skipped")
        return
    click.echo(
        f"imported: {result.grants_created} grandfather grant(s), "
        f"{result.accounts_created} new account(s); audit event {result.audit_event_id}"
    )
