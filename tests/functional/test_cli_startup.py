"""`--help` answers without loading Stripe, SQLAlchemy, Flask or the models (they take ~0.5 s)."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs every command's --help in one fresh interpreter and names, for each heavy module that
# got imported, the first command that imported it.
PROBE = """
import contextlib, io, json, sys
import click
HEAVY = ("stripe", "sqlalchemy", "flask", "werkzeug", "alembic", "psycopg", "jwt")
OURS = ("entitlements.app", "entitlements.db", "entitlements.models", "entitlements.billing",
        "devstripe", "entitlements.services", "entitlements.tokens")

def heavy():
    return sorted(m for m in sys.modules
                  if m.split(".")[0] in HEAVY or m.startswith(OURS))

from entitlements.cli import main
found = {m: "import entitlements.cli" for m in heavy()}

def paths(group, prefix):
    for name, command in sorted(group.commands.items()):
        yield [*prefix, name]
        if isinstance(command, click.Group):
            yield from paths(command, [*prefix, name])

helps = [[], *paths(main, [])]
for path in helps:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main.main(args=[*path, "--help"], prog_name="entitlements")
    assert code == 0 and "Usage: entitlements" in out.getvalue(), (path, code)
    for module in heavy():
        found.setdefault(module, " ".join([*path, "--help"]))
print(json.dumps({"helps": len(helps), "imported": found}))
"""


def test_every_help_answers_without_stripe_sqlalchemy_flask_or_models() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["helps"] > 20  # every group and command, not only the top level
    assert report["imported"] == {}
