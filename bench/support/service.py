"""The service under test, as the servers and its command line see it: environment and CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def app_environment(
    database_url: str, instance_path: str, secret_key: str, **settings: str
) -> dict[str, str]:
    """Return the environment of the CLI and of both servers (the same for both servers).

    This process's ENTITLEMENTS_* settings are dropped; `settings` adds more, e.g.
    `ENTITLEMENTS_STRIPE_API_BASE=...`.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ENTITLEMENTS_") and k != "GUNICORN_CMD_ARGS"
    }
    env.update(
        ENTITLEMENTS_ENV="test",
        ENTITLEMENTS_DATABASE_URL=database_url,
        ENTITLEMENTS_SECRET_KEY=secret_key,
        ENTITLEMENTS_INSTANCE_PATH=instance_path,
        ENTITLEMENTS_LOG_LEVEL="WARNING",
        # The benchmarks' receivers listen on 127.0.0.1.
        ENTITLEMENTS_WEBHOOKS_ALLOW_PRIVATE="true",
    )
    env.update(settings)
    return env


def entitlements_command() -> list[str]:
    """Return the argv prefix of the `entitlements` command installed with this interpreter."""
    script = Path(sys.executable).parent / "entitlements"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "entitlements"]


def cli(env: dict[str, str], cwd: str, command: str, *args: str) -> str:
    """Run `entitlements COMMAND ARGS` (COMMAND split on spaces); return its stdout, or raise
    with its error output if it fails."""
    argv = [*command.split(), *args]
    done = subprocess.run(
        [*entitlements_command(), *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`entitlements {' '.join(argv)}` exited {done.returncode}:\n{done.stderr}"
        )
    return done.stdout
