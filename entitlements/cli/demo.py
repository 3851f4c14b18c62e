"""`entitlements demo load|run`: demo data, and the README's first command."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

import click

from .common import app_context, cli_actor, fail, runtime_of, with_app
from .db import upgrade_database

if TYPE_CHECKING:
    from flask import Flask

# These files live in the instance folder, beside the SQLite database they belong with.
KEY_FILE = "demo-service-key"
EMULATOR_STATE_FILE = "devstripe.json"
# The whsec_ secret of the demo magazine's change-event endpoint; there only while this demo
# delivers events to it, so the magazine reads it as "events arrive" (examples/magazine).
EVENT_SECRET_FILE = "demo-event-secret"  # noqa: S105  (a file name, not a secret)


@click.group("demo")
def demo() -> None:
    """Demo data for trying the service locally."""


def read_kept(instance_path: str, name: str) -> str | None:
    """Return the secret (demo key, event secret) an earlier run kept, if any."""
    try:
        with open(os.path.join(instance_path, name), encoding="ascii") as kept:
            return kept.read().strip() or None
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def write_kept(instance_path: str, name: str, key: str) -> None:
    """Keep a secret in a file only its owner can read (the database keeps no plaintext)."""
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, name)
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
    kept = read_kept(instance, KEY_FILE)
    lines, key = load_demo(
        session,
        now=rt.clock(),
        actor=Actor(cli_actor()),
        gateway=rt.gateway if with_billing else None,
        key=kept,
    )
    session.commit()
    if key != kept:
        write_kept(instance, KEY_FILE, key)
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


def wire_events(app: Flask, url: str | None) -> None:
    """Register the magazine's receiver at `url` (idempotent) and keep its secret; without
    `url`, remove the kept secret so the magazine does not wait for events."""
    from .. import db
    from ..demo import demo_event_endpoint
    from ..services.audit import Actor

    rt = runtime_of(app)
    instance = rt.config.instance_path
    if url is None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(instance, EVENT_SECRET_FILE))
        return
    kept = read_kept(instance, EVENT_SECRET_FILE)
    session = db.session()
    secret = demo_event_endpoint(
        session, url, kept, secret_key=rt.config.secret_key, now=rt.clock(),
        actor=Actor(cli_actor()),
    )
    session.commit()
    if secret != kept:
        write_kept(instance, EVENT_SECRET_FILE, secret)
    where = shown_path(os.path.join(instance, EVENT_SECRET_FILE))
    click.echo(f"change events to {url} (its secret in {where}, which the magazine reads)")


def start_delivery(app: Flask) -> tuple[threading.Thread, threading.Event]:
    """Run `webhooks work`'s loop with `app` in a thread of this process until the event is set.

    A thread rather than a second process: it stops with the demo however the demo stops, and
    on SQLite one worker is the rule anyway. The app is built by the caller, in the main
    thread: CPython 3.11 fails ("AST constructor recursion depth mismatch") when two threads
    build apps at once, since Werkzeug compiles each URL rule through the ast module.
    """
    from .. import db
    from .webhooks import deliver

    stop = threading.Event()

    def work() -> None:
        with app.app_context():
            try:
                deliver(app, stop.is_set, stop.wait)
            finally:
                db.session().close()
                db.dispose(app)

    thread = threading.Thread(target=work, name="webhooks-work", daemon=True)
    thread.start()
    return thread, stop


def start_emulator(
    host: str, port: int, public_url: str, instance: str, overrides: dict[str, str]
) -> tuple[Any, bool]:
    """Start the offline Stripe emulator and point `overrides` at it; return it and whether
    it started without a kept state (Any: devstripe is imported inside `demo run` only)."""
    import secrets

    # The emulator is a separate distribution, never in the production wheel.
    from devstripe import EmulatorServer
    from devstripe.persist import StateFileError

    state_path = os.path.join(instance, EMULATOR_STATE_FILE)
    was_empty = not os.path.exists(state_path)
    webhook_secret = "whsec_demo_" + secrets.token_urlsafe(24)
    try:
        emulator = EmulatorServer(
            port=port,
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
    return emulator, was_empty


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
    and running again carries on where the last run stopped. With ENTITLEMENTS_SITE_URL set
    (the demo magazine's URL), change events are delivered to its receiver.
    """
    from werkzeug.serving import run_simple

    from ..access_log import PathOnlyRequestHandler
    from ..app import create_app
    from ..config import ConfigError, load_config
    from ..demo import MAGAZINE_EVENTS_PATH
    from ..preflight import check_ready_to_serve
    from ..services.webhook_delivery import TIMEOUT_SECONDS

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
        for name, value in (
            ("PUBLIC_URL", public_url), ("DEMO", "true"), ("WEBHOOKS_ALLOW_PRIVATE", "true")
        )
        if f"ENTITLEMENTS_{name}" not in os.environ
    }
    try:
        config = load_config(overrides)
    except ConfigError as exc:
        fail(f"configuration: {exc}", 1)
    instance = config.instance_path
    # Set, the site URL names the demo magazine (its README starts the demo so): it gets events.
    events_url = (
        config.site_url + MAGAZINE_EVENTS_PATH if os.environ.get("ENTITLEMENTS_SITE_URL") else None
    )
    # A supervisor's SIGTERM stops like Ctrl-C: the emulator writes its state a last time.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    emulator, was_empty = None, False
    delivery: tuple[threading.Thread, threading.Event] | None = None
    if with_emulator:
        emulator, was_empty = start_emulator(host, stripe_port, public_url, instance, overrides)
    try:
        upgrade_database("head", overrides)
        with app_context(overrides) as app:
            load_and_print(
                app,
                with_billing=emulator is not None,
                emulator_was_empty=was_empty,
            )
            wire_events(app, events_url)
        # The JWKS is never empty while tokens can be issued.
        check_ready_to_serve(create_app(overrides))
        served = create_app(overrides)
        if events_url is not None:
            delivery = start_delivery(create_app(overrides))
        click.echo(f"serving on {public_url}  - try {public_url}/demo to sign in as a reader")
        run_simple(
            host,
            port,
            served,
            threaded=True,
            use_reloader=False,
            request_handler=PathOnlyRequestHandler,
        )
    finally:
        if delivery is not None:
            delivery[1].set()
            # The delivery in hand finishes (a POST times out after TIMEOUT_SECONDS).
            delivery[0].join(timeout=TIMEOUT_SECONDS + 1)
        if emulator is not None:
            emulator.stop()
