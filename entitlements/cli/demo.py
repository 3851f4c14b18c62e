"""`entitlements demo load|run`: demo data, and the README's first command."""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import TYPE_CHECKING

import click

from .common import app_context, cli_actor, fail, runtime_of, with_app
from .db import upgrade_database

if TYPE_CHECKING:
    from flask import Flask

# Both files live in the instance folder, beside the SQLite database they belong with.
KEY_FILE = "demo-service-key"
EMULATOR_STATE_FILE = "devstripe.json"


@click.group("demo")
def demo() -> None:
    """Demo data for trying the service locally."""


def read_demo_key(instance_path: str) -> str | None:
    """Return the demo key an earlier run kept, if any."""
    try:
        with open(os.path.join(instance_path, KEY_FILE), encoding="ascii") as kept:
            return kept.read().strip() or None
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def write_demo_key(instance_path: str, key: str) -> None:
    """Keep the demo key in a file only its owner can read (the database keeps a hash only)."""
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, KEY_FILE)
    partial = f"{path}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)  # the mode of os.open applies to a new file only
        out.write(key + "\n")
    os.replace(partial, path)


def shown_path(path: str) -> str:
    """Return `path` relative to the working directory when it lies inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def load_and_print(app: Flask, *, with_billing: bool, emulator_was_empty: bool = False) -> None:
    """Load the demo data, keep its service key, and print the accounts and the key last."""
    from sqlalchemy import func, select

    from .. import db
    from ..demo import load_demo
    from ..models import Account
    from ..services.audit import Actor

    rt = runtime_of(app)
    instance = rt.config.instance_path
    session = db.session()
    if emulator_was_empty:
        linked = session.scalar(
            select(func.count()).select_from(Account).where(Account.stripe_customer_id.is_not(None))
        )
        if linked:
            click.echo(
                f"warning: the Stripe emulator started empty but {linked} account(s) name "
                "customers of an earlier run; they cannot pay or manage billing. To start "
                f"over, stop, delete the folder {shown_path(instance)} and run again.",
                err=True,
            )
    kept = read_demo_key(instance)
    lines, key = load_demo(
        session,
        now=rt.clock(),
        actor=Actor(cli_actor()),
        gateway=rt.gateway if with_billing else None,
        key=kept,
    )
    session.commit()
    if key != kept:
        write_demo_key(instance, key)
    for line in lines:
        click.echo(line)
    where = shown_path(os.path.join(instance, KEY_FILE))
    click.echo(f"demo service key (all scopes; the same every run: KEY=$(cat {where})):")
    click.echo(key)


@demo.command("load")
@with_app
def demo_load(app: Flask) -> None:
    """Load demo accounts (idempotent) and print the demo service key last."""
    load_and_print(app, with_billing=False)


def check_port(host: str, port: int, option: str) -> None:
    """Fail with one line unless `port` can be listened on."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        fail(f"--host {host!r} is not an address to listen on ({exc})")
    with socket.socket(family, kind, proto) as probe:
        # As the servers themselves do: a port a stopped demo left in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            fail(
                f"port {port} on {host} is not free ({exc.strerror}): stop what listens there "
                f"(an earlier `entitlements demo run`?) or pass {option} with another port",
                1,
            )


def require_emulator() -> None:
    """Fail with one line unless the offline Stripe emulator (its own distribution) is installed."""
    try:
        import devstripe  # noqa: F401 - only whether it is there
    except ModuleNotFoundError as exc:
        if exc.name != "devstripe":
            raise
        fail(
            "the offline Stripe emulator is not installed: run `pip install -e ./devstripe` in "
            "the checkout (or set ENTITLEMENTS_STRIPE_SECRET_KEY to use Stripe itself)",
            1,
        )


@demo.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--stripe-port",
    default=12111,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the offline Stripe emulator (started when no Stripe key is set).",
)
def demo_run(host: str, port: int, stripe_port: int) -> None:
    """Migrate, load demo data and serve, with the offline Stripe emulator: no network.

    The emulator keeps its customers and subscriptions in the instance folder, so stopping
    and running again carries on where the last run stopped.
    """
    import secrets

    from werkzeug.serving import run_simple

    from ..access_log import PathOnlyRequestHandler
    from ..app import create_app
    from ..config import ConfigError, load_config
    from ..preflight import check_ready_to_serve

    with_emulator = not os.environ.get("ENTITLEMENTS_STRIPE_SECRET_KEY")
    if with_emulator:
        require_emulator()
    # Before anything is written: a busy port found after migrating would leave a half start.
    if with_emulator and port == stripe_port:
        fail(f"--port and --stripe-port are both {port}; pick two ports")
    check_port(host, port, "--port")
    if with_emulator:
        check_port(host, stripe_port, "--stripe-port")
    public_url = f"http://{host}:{port}"
    # Settings for this process's app only, never the environment; what is set there wins.
    overrides = {
        name: value
        for name, value in (("PUBLIC_URL", public_url), ("DEMO", "true"))
        if f"ENTITLEMENTS_{name}" not in os.environ
    }
    try:
        instance = load_config(overrides).instance_path
    except ConfigError as exc:
        fail(f"configuration: {exc}", 1)
    # A supervisor's SIGTERM stops like Ctrl-C: the emulator writes its state a last time.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    emulator = None
    if with_emulator:
        # The emulator is a separate distribution, never in the production wheel.
        from devstripe import EmulatorServer
        from devstripe.persist import StateFileError

        state_path = os.path.join(instance, EMULATOR_STATE_FILE)
        was_empty = not os.path.exists(state_path)
        webhook_secret = "whsec_demo_" + secrets.token_urlsafe(24)
        try:
            emulator = EmulatorServer(
                port=stripe_port,
                host=host,
                webhook_endpoints=[(f"{public_url}/v1/webhooks/stripe", webhook_secret)],
                state_path=state_path,
            ).start()
        except StateFileError as exc:
            fail(str(exc), 1)
        # The emulator accepts any sk_test_ key: this names it, it guards nothing.
        overrides["STRIPE_SECRET_KEY"] = "sk_test_offline_emulator"  # noqa: S105
        overrides["STRIPE_API_BASE"] = emulator.url
        overrides["STRIPE_WEBHOOK_SECRET"] = webhook_secret
        click.echo(
            f"offline Stripe emulator on {emulator.url}, its state kept in "
            f"{shown_path(state_path)} (test card: 4242 4242 4242 4242)"
        )
    try:
        upgrade_database("head", overrides)
        with app_context(overrides) as app:
            load_and_print(
                app,
                with_billing=emulator is not None,
                emulator_was_empty=emulator is not None and was_empty,
            )
        # The JWKS is never empty while tokens can be issued.
        check_ready_to_serve(create_app(overrides))
        click.echo(f"serving on {public_url}  - try {public_url}/demo to sign in as a reader")
        run_simple(
            host,
            port,
            create_app(overrides),
            threaded=True,
            use_reloader=False,
            request_handler=PathOnlyRequestHandler,
        )
    finally:
        if emulator is not None:
            emulator.stop()
