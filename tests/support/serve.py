"""`entitlements serve` (and other commands) run for real, as a publisher runs them."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENTRY_POINT = os.path.join(os.path.dirname(sys.executable), "entitlements")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """Return this process's environment without ENTITLEMENTS_* settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTITLEMENTS_")}
    env.update(settings)
    return env


def production_env(database_url: str, instance: Path, **settings: str) -> dict[str, str]:
    """Every setting production requires, with safe values, plus `settings`."""
    return clean_env(
        ENTITLEMENTS_ENV="production",
        ENTITLEMENTS_DATABASE_URL=database_url,
        ENTITLEMENTS_INSTANCE_PATH=str(instance),
        ENTITLEMENTS_SECRET_KEY=secrets.token_urlsafe(48),
        ENTITLEMENTS_ISSUER="https://entitlements.magazine.test",
        ENTITLEMENTS_PUBLIC_URL="https://entitlements.magazine.test",
        ENTITLEMENTS_SITE_URL="https://magazine.test",
        ENTITLEMENTS_STRIPE_SECRET_KEY="sk_test_" + secrets.token_hex(12),
        ENTITLEMENTS_STRIPE_WEBHOOK_SECRET="whsec_" + secrets.token_hex(16),
        ENTITLEMENTS_LOG_LEVEL="WARNING",
        # The tests' receivers listen on 127.0.0.1.
        ENTITLEMENTS_WEBHOOKS_ALLOW_PRIVATE="true",
        **settings,
    )


def cli(env: dict[str, str], *args: str) -> str:
    """Run an `entitlements` command; return its output, failing the test on a non-zero exit."""
    done = subprocess.run(
        [ENTRY_POINT, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_key(env: dict[str, str], name: str, *scopes: str) -> str:
    """Create a service key with the CLI and return it (the last line of its output)."""
    args = [a for scope in scopes for a in ("--scope", scope)]
    return cli(env, "service-keys", "create", "--name", name, *args).strip().splitlines()[-1]


@dataclass
class Served:
    """A running `entitlements serve`: its URL, master process and log file."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Return what the server has written so far."""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serve(
    env: dict[str, str],
    log_dir: Path,
    *,
    workers: int = 2,
    ready: str = "/readyz",
    port: int | None = None,
) -> Iterator[Served]:
    """Run `entitlements serve` until the block ends; its output goes to a file.

    A file, not a pipe: a pipe nobody reads fills up with access-log lines and then blocks
    every worker on its next write. The master leads its own process group, so stopping it
    stops the workers too; a server that logged a traceback fails the test.
    """
    port = port or free_port()
    log_path = log_dir / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [ENTRY_POINT, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=log_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(served.url + ready, timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start:\n{served.log()}") from None
                time.sleep(0.1)
        yield served
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    output = served.log()
    assert "Traceback" not in output, output


def request(
    url: str, method: str, path: str, key: str | None, body: object = None
) -> tuple[int, bytes]:
    """Send one request; return its status and body (an error status too, not an exception)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
