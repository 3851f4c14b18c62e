"""The demo magazine (examples/magazine) beside the real service, walked in headless Chromium.

The service runs as a publisher runs it: `entitlements serve` in production mode on PostgreSQL,
behind a TLS front (production wants https public URLs), paying through the offline Stripe
emulator, with `entitlements webhooks work` delivering change events to the magazine during the
walk. The magazine uses only the SDK and the public API. Screenshots of every step are saved in
the test's folder (printed), and copied to $ENTITLEMENTS_ARTIFACTS when set.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devstripe import EmulatorServer
from entitlements_client.events import sign
from examples.magazine.app import TOKEN_COOKIE, create_app
from examples.magazine.settings import Settings
from examples.magazine.setup_demo import set_up
from tests.admin.test_browser import press
from tests.billing.test_browser import text, wait_for, wait_url
from tests.conftest import migrated_database
from tests.support.chromium import Screenshots, chromium
from tests.support.serve import ENTRY_POINT, cli, free_port, production_env, request, serve
from tests.support.tls import tls_front

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The grandfathered reader's period is moved to end this long after the walk starts, so the
# walk sees it in force and then, on the service's own clock, over.
GRANDFATHER_SECONDS = 6.0
EVENT_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
# Issue 11: a ban reaches the demo site's comment box within this many seconds of its commit.
BAN_SECONDS = 5.0


class MovableClock:
    """The magazine's clock: the wall clock plus what the test added."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Keep test output readable."""


@dataclass
class World:
    """The running service (plain and behind TLS), the emulator's URL, the demo key, and the
    service's environment (for more of its commands)."""

    service_url: str
    public_url: str
    emulator_url: str
    key: str
    issuer: str
    env: dict[str, str]

    def admin(self, method: str, path: str, body: object = None) -> dict[str, object]:
        """Call the admin API with the demo key; fail the test on an error status."""
        status, answer = request(self.service_url, method, path, self.key, body)
        assert status < 300, (status, answer)
        loaded: dict[str, object] = json.loads(answer)
        return loaded


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The service in production mode with its demo data, and the magazine's extra readers."""
    folder = tmp_path_factory.mktemp("magazine-world")
    port = free_port()
    webhook_secret = "whsec_" + secrets.token_hex(16)
    emulator = EmulatorServer(
        webhook_endpoints=[(f"http://127.0.0.1:{port}/v1/webhooks/stripe", webhook_secret)]
    ).start()
    try:
        with (
            migrated_database("postgresql", folder) as database_url,
            tls_front(port, folder) as public_url,
        ):
            env = production_env(database_url, folder / "instance")
            env.update(
                ENTITLEMENTS_PUBLIC_URL=public_url,
                ENTITLEMENTS_STRIPE_API_BASE=emulator.url,
                ENTITLEMENTS_STRIPE_WEBHOOK_SECRET=webhook_secret,
            )
            cli(env, "signing-keys", "rotate")
            key = cli(env, "demo", "load").strip().splitlines()[-1]
            with serve(env, folder, port=port) as served:
                set_up(served.url, key)
                yield World(
                    served.url, public_url, emulator.url, key, env["ENTITLEMENTS_ISSUER"], env
                )
    finally:
        emulator.stop()


@dataclass
class Magazine:
    """The magazine app on real HTTP on loopback, and its clock."""

    app: Flask
    url: str
    clock: MovableClock


@contextlib.contextmanager
def magazine(
    world: World,
    folder: Path,
    *,
    events_delivered: bool = False,
    event_secret: str = EVENT_SECRET,
    port: int = 0,
) -> Iterator[Magazine]:
    """Serve the magazine against `world` until the block ends."""
    clock = MovableClock()
    app = create_app(
        Settings(
            service_url=world.service_url,
            service_key=world.key,
            issuer=world.issuer,
            database=str(folder / f"magazine-{secrets.token_hex(4)}.db"),
            secret_key=secrets.token_urlsafe(32),
            event_secret=event_secret,
            events_delivered=events_delivered,
        ),
        clock=clock,
    )
    server: BaseWSGIServer = make_server(
        "127.0.0.1", port, app, threaded=True, request_handler=_Quiet
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Magazine(app, f"http://127.0.0.1:{server.server_port}", clock)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def delivering(world: World, folder: Path, port: int) -> Iterator[str]:
    """Register the magazine's receiver on `port` and run `entitlements webhooks work`; yield
    the endpoint's secret. The endpoint is disabled afterwards."""
    endpoint = world.admin(
        "POST",
        "/v1/admin/webhooks",
        {"url": f"http://127.0.0.1:{port}/entitlements-events", "description": "e2e magazine"},
    )
    log_path = folder / "webhooks-work.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [ENTRY_POINT, "webhooks", "work", "--poll", "0.1"],
            env=world.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield str(endpoint["secret"])
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        world.admin("POST", f"/v1/admin/webhooks/{endpoint['id']}/disable")
    output = log_path.read_text(errors="replace")
    assert "Traceback" not in output, output


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium that accepts the TLS front's self-signed certificate."""
    yield from chromium("--ignore-certificate-errors")


def present(driver: WebDriver, element_id: str) -> bool:
    """Return whether the current page has the element."""
    return bool(driver.find_elements(By.ID, element_id))


def become(driver: WebDriver, url: str, reader: str) -> None:
    """Switch reader through the dev login and land on the article."""
    driver.get(f"{url}/login")
    press(driver, f"as-{reader}")
    wait_for(driver, "article")


def reload_until(
    driver: WebDriver, url: str, done: Callable[[], bool], timeout: float = BAN_SECONDS
) -> float:
    """Load `url` until `done()` holds on the article; return the seconds it took."""
    started = time.monotonic()
    while True:
        driver.get(url)
        wait_for(driver, "article")
        if done():
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"not done within {timeout} s"
        time.sleep(0.1)


def token_cookie(driver: WebDriver) -> str | None:
    """Return the token the magazine keeps in the browser, if any."""
    cookie = driver.get_cookie(TOKEN_COOKIE)
    return None if cookie is None else str(cookie["value"])


def write(driver: WebDriver, element_id: str, value: str) -> None:
    """Replace a text field's content."""
    field = wait_for(driver, element_id)
    field.clear()
    field.send_keys(value)


def test_every_reader_walks_the_magazine(
    world: World, browser: WebDriver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = Screenshots(browser, tmp_path / "magazine-walk")
    with capsys.disabled():
        print(f"\nmagazine screenshots: {shots.folder}")  # noqa: T201  (shown even when passing)
    port = free_port()
    try:
        # Change events delivered: the magazine keeps each reader's token across page loads.
        with (
            delivering(world, tmp_path, port) as secret,
            magazine(world, tmp_path, events_delivered=True, event_secret=secret, port=port) as mag,
        ):
            await_worker(world, mag)
            walk(world, mag, browser, shots)
    finally:
        shots.publish()


def await_worker(world: World, mag: Magazine) -> None:
    """Wait until the worker delivers (it takes a moment to start): the walk times events."""
    world.admin(
        "POST",
        "/v1/admin/grants",
        {"account_id": "e2e-warm-up", "feature": "archive", "kind": "comp", "reason": "e2e"},
    )
    deadline = time.monotonic() + 30
    while "e2e-warm-up" not in mag.app.extensions["magazine"].changed_at:
        assert time.monotonic() < deadline, "no change event reached the magazine in 30 s"
        time.sleep(0.05)


def walk(world: World, mag: Magazine, browser: WebDriver, shots: Screenshots) -> None:
    """Every reader, in an order that lets the grandfather period run out meanwhile."""
    url = mag.url
    # An anonymous visitor: ads, no comment box, no archive.
    become(browser, url, "anonymous")
    assert text(browser, "reader") == "Anonymous visitor"
    assert present(browser, "ad-banner")
    assert not present(browser, "comment-box")
    assert "Sign in" in text(browser, "comment-locked")
    shots.take("anonymous")
    browser.get(f"{url}/archive")
    assert text(browser, "message-title") == "The archive is for subscribers"

    # A past commenter: the box and the notice. The admin moves the period's end close.
    grants = world.admin("GET", "/v1/admin/grants?account_id=demo-grandfathered")["grants"]
    assert isinstance(grants, list)
    grant = next(g for g in grants if g["kind"] == "grandfather")
    ends_at = datetime.now(UTC) + timedelta(seconds=GRANDFATHER_SECONDS)
    world.admin(
        "POST",
        f"/v1/admin/grants/{grant['id']}/extend",
        {"ends_at": ends_at.isoformat(), "reason": "e2e: the period ends during the walk"},
    )
    become(browser, url, "demo-grandfathered")
    assert present(browser, "ad-banner")
    notice = text(browser, "grandfather-notice")
    assert "Subscribe to preserve your ability to comment" in notice
    assert text(browser, "grandfather-until") == f"{ends_at:%B} {ends_at.day}, {ends_at:%Y}"
    write(browser, "body", "I have read this magazine since the fax edition.")
    press(browser, "post-comment")
    edit_link = wait_for(browser, "comments").find_element(By.CSS_SELECTOR, "a[id^=edit-]")
    comment_id = str(edit_link.get_attribute("id")).removeprefix("edit-")
    shots.take("grandfathered-with-notice")

    # A subscriber: no ads, the box, the archive and the edition; no notice.
    become(browser, url, "demo-subscriber")
    assert not present(browser, "ad-banner")
    assert present(browser, "comment-box")
    assert not present(browser, "grandfather-notice")
    shots.take("subscriber")
    browser.get(f"{url}/archive")
    assert wait_for(browser, "archive-issues")

    # A banned (complimentary) subscriber: ad-free, the edition, but no comment box.
    become(browser, url, "demo-banned")
    assert not present(browser, "ad-banner")
    assert not present(browser, "comment-box")
    assert "suspended" in text(browser, "ban-notice")
    shots.take("banned-subscriber")
    browser.get(f"{url}/edition")
    assert wait_for(browser, "edition-contents")

    # A past commenter whose period ended (setup_demo.py): ads, and a subscribe link only.
    become(browser, url, "demo-grandfather-ended")
    assert present(browser, "ad-banner")
    assert not present(browser, "comment-box")
    assert not present(browser, "grandfather-notice")
    assert present(browser, "subscribe-to-comment")
    shots.take("grandfather-period-ended")

    # The grandfathered reader once the service's clock passed the period's end.
    left = (ends_at - datetime.now(UTC)).total_seconds()
    print(f"waited {left:.1f} s for the grandfather period to end")  # noqa: T201
    time.sleep(max(0.0, left + 0.2))
    become(browser, url, "demo-grandfathered")
    assert not present(browser, "comment-box")
    assert not present(browser, "grandfather-notice")
    assert present(browser, "ad-banner")
    shots.take("grandfathered-after-the-period")

    # Subscribing: the service's subscribe page (a hand-off), the emulator's checkout, back.
    press(browser, "subscribe-to-comment")
    wait_url(browser, f"{world.public_url}/subscribe")
    shots.take("service-subscribe-page")
    press(browser, "choose-plus_monthly")
    wait_url(browser, f"{world.emulator_url}/checkout/cs_")
    email = wait_for(browser, "email")
    if not email.get_attribute("value"):
        email.send_keys("demo-grandfathered@example.com")
    shots.take("emulator-checkout")
    press(browser, "pay")
    wait_url(browser, f"{world.public_url}/subscribe/success")
    assert text(browser, "welcome") == "Welcome to Plus"
    shots.take("service-welcome")
    # The subscription's change event makes the magazine drop the reader's kept token.
    reload_until(browser, f"{url}/", lambda: not present(browser, "ad-banner"))
    assert present(browser, "comment-box")
    assert not present(browser, "grandfather-notice")
    shots.take("subscribed-no-ads")
    browser.get(f"{url}/archive")
    assert wait_for(browser, "archive-issues")
    shots.take("subscribed-archive")

    # Editing: allowed within 5 minutes, refused after (the magazine's clock moves).
    browser.get(f"{url}/")
    press(browser, f"edit-{comment_id}")
    write(browser, "edit-body", "I have read this magazine since the fax edition. Still do.")
    press(browser, "save-edit")
    assert "Still do." in text(browser, f"comment-{comment_id}")
    press(browser, f"edit-{comment_id}")
    mag.clock.offset += timedelta(minutes=5)
    write(browser, "edit-body", "Too late for this.")
    press(browser, "save-edit")
    assert text(browser, "message") == "Comments can be edited for 5 minutes after posting."
    shots.take("edit-after-five-minutes-refused")
    browser.get(f"{url}/")
    assert "Still do." in text(browser, f"comment-{comment_id}")
    assert not present(browser, f"edit-{comment_id}")

    # A ban through the admin API reaches the box through its change event within 5 s, while
    # the magazine keeps the reader's token (which still says `comment`) across page loads.
    kept = token_cookie(browser)
    browser.get(f"{url}/")
    assert kept is not None
    assert token_cookie(browser) == kept
    assert present(browser, "comment-box")
    asked = time.time()
    world.admin(
        "POST",
        "/v1/admin/bans",
        {"account_id": "demo-grandfathered", "feature": "comment", "reason": "e2e: a ban"},
    )
    committed = time.time()  # the answer comes after the commit
    reload_until(browser, f"{url}/", lambda: not present(browser, "comment-box"))
    took = time.time() - committed
    print(f"ban to comment box gone: {took:.2f} s")  # noqa: T201
    assert took <= BAN_SECONDS
    # Through the receiver: the event arrived after the ban was asked for.
    assert mag.app.extensions["magazine"].changed_at["demo-grandfathered"] > asked
    assert token_cookie(browser) != kept
    assert present(browser, "ban-notice")
    assert not present(browser, "ad-banner")
    shots.take("subscriber-banned-within-5-seconds")


def signed_event(
    account_id: str, not_before: float, secret: str = EVENT_SECRET
) -> dict[str, object]:
    """Return the headers and body of a change event signed as the service signs them."""
    body = json.dumps(
        {
            "type": "entitlements.changed",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {"account_id": account_id, "not_before": not_before},
        }
    ).encode()
    msg_id, stamp = f"msg_{secrets.token_hex(8)}", int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, body),
    }
    return {"headers": headers, "data": body}


def test_a_change_event_revokes_the_kept_token_at_once(world: World, tmp_path: Path) -> None:
    with magazine(world, tmp_path, events_delivered=True) as mag:
        client = mag.app.test_client()
        with client.session_transaction() as session:
            session["account_id"] = "demo-subscriber"
        first = client.get("/")
        assert b'id="comment-box"' in first.data
        kept = client.get_cookie(TOKEN_COOKIE)
        assert kept is not None
        again = client.get("/")
        assert TOKEN_COOKIE not in again.headers.get("Set-Cookie", "")  # the token is reused

        ban = world.admin(
            "POST",
            "/v1/admin/bans",
            {"account_id": "demo-subscriber", "feature": "comment", "reason": "e2e: events"},
        )
        try:
            # No worker delivers to this magazine (none of its URLs is registered): with a kept
            # token the ban waits for an event, here posted by the test.
            assert b'id="comment-box"' in client.get("/").data
            forged = signed_event("demo-subscriber", time.time(), secret="whsec_" + "A" * 32)
            assert client.post("/entitlements-events", **forged).status_code == 400

            issued_at = mag.app.extensions["magazine"].verifier.verify(kept.value).issued_at
            not_before = issued_at.timestamp() + 1
            time.sleep(max(0.0, not_before - time.time()))
            event = signed_event("demo-subscriber", not_before)
            assert client.post("/entitlements-events", **event).status_code == 204

            after = client.get("/")
            assert b'id="comment-box"' not in after.data
            assert b'id="ban-notice"' in after.data
            assert TOKEN_COOKIE in after.headers.get("Set-Cookie", "")
        finally:
            world.admin("POST", f"/v1/admin/bans/{ban['id']}/lift", {"reason": "e2e: done"})


def test_an_unreachable_service_is_a_503_page_and_no_secret_no_receiver(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            service_url=f"http://127.0.0.1:{free_port()}",
            service_key="ent_sk_unused",
            database=str(tmp_path / "magazine.db"),
            secret_key=secrets.token_urlsafe(32),
        )
    )
    client = app.test_client()
    assert b'id="ad-banner"' in client.get("/").data  # anonymous: nothing to ask
    with client.session_transaction() as session:
        session["account_id"] = "demo-subscriber"
    answer = client.get("/")
    assert answer.status_code == 503
    assert b"We could not check your subscription" in answer.data
    assert client.post("/entitlements-events", data=b"{}").status_code == 404
