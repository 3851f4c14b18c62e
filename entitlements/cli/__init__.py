"""The `entitlements` command line: serve, migrate, keys, grants, bans, accounts, demo data.

Each command group lives in its own module; this one builds the top-level group and adds them.
"""

from __future__ import annotations

import click

from .accounts import accounts
from .admins import admins
from .bans import bans
from .db import db_group
from .demo import demo
from .events import events
from .grandfather import grandfather
from .grants import grants
from .one_line_errors import OneLineErrors
from .reconcile import reconcile_command
from .serve import serve
from .service_keys import service_keys
from .signing_keys import signing_keys
from .webhooks import webhooks


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="entitlements")
def main() -> None:
    """Entitlements: who may comment, read ad-free, open the archive and the digital edition."""


for command in (
    accounts,
    admins,
    bans,
    db_group,
    demo,
    events,
    grandfather,
    grants,
    reconcile_command,
    serve,
    service_keys,
    signing_keys,
    webhooks,
):
    main.add_command(command)

__all__ = ["main"]
