"""The README's first command, for real: `entitlements demo run`, then subscribe offline."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from entitlements_client.events import verify_event
from tests.support.receiver import Receiver, receiver
from tests.support.serve import ENTRY_POINT, clean_env, free_port, request


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """Run `entitlements demo run` in a fresh folder; yield its URL."""
    run = DemoRun(tmp_path, free_port(), free_port())
    try:
        yield run.url
    finally:
        output = "\n".join(run.stop())
        # The demo signs in through /handoff?token=...: the log names the path only.
        assert "GET /handoff HTTP" in output, output
        assert "token=" not in output, output
    assert (tmp_path / "instance" / "entitlements.db").exists()


def test_readme_demo_subscribes_offline_and_shows_plus(demo: str) -> None:
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(url: str) -> tuple[str, str]:
        with browser.open(url, timeout=10) as response:
            return response.geturl(), response.read().decode()

    def post(url: str, fields: dict[str, str]) -> tuple[str, str]:
        data = urllib.parse.urlencode(fields).encode()
        with browser.open(url, data=data, timeout=10) as response:
            return response.geturl(), response.read().decode()

    def token(page: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match
        return match.group(1)

    _, page = get(f"{demo}/demo")
    where, page = post(
        f"{demo}/demo/sign-in",
        {"csrf": token(page), "account_id": "demo-reader", "next": "/subscribe"},
    )
    assert where == f"{demo}/subscribe"
    assert "Subscribe monthly" in page
    where, page = post(f"{demo}/subscribe", {"csrf": token(page), "lookup_key": "plus_annual"})
    assert "/checkout/cs_" in where, where
    assert "Pay" in page
    checkout = where
    where, page = post(
        f"{checkout}/pay", {"email": "reader@example.com", "card_number": "4242 4242 4242 4242"}
    )
    assert where.startswith(f"{demo}/subscribe/success")
    assert "Welcome to Plus" in page
    # The emulator's webhooks arrive in the background; the account page shows Plus.
    for _ in range(50):
        _, page = get(f"{demo}/account")
        if "Renews on" in page:
            break
        time.sleep(0.1)
    assert "Plus" in page
    assert "Renews on" in page
    assert "Open the full archive" in page


# ---- stopping and running again ------------------------------------------------------------


class DemoRun:
    """One `entitlements demo run` in `folder` on fixed ports, stopped as Ctrl-C would."""

    def __init__(self, folder: Path, port: int, stripe_port: int, **settings: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        # A file, not a pipe nobody reads: a full pipe would block the demo's next log line.
        self.log_path = folder / f"demo-{port}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    ENTRY_POINT,
                    "demo",
                    "run",
                    "--port",
                    str(port),
                    "--stripe-port",
                    str(stripe_port),
                ],
                cwd=folder,
                env=clean_env(**settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("demo did not start")

    def stop(self) -> list[str]:
        """Stop the demo; return its output lines."""
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=20)
        output = self.log_path.read_text(errors="replace")
        assert "Traceback" not in output, output
        return output.splitlines()


class Browser:
    """A reader's browser: cookies, redirects followed, CSRF tokens read from the last page."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            urllib.request.ProxyHandler({}),
        )
        self.page = ""

    def open(self, url: str, fields: dict[str, str] | None = None) -> str:
        """GET, or POST `fields` with the last page's CSRF token; return where it ended."""
        data = None
        if fields is not None:
            match = re.search(r'name="csrf" value="([^"]+)"', self.page)
            form = {"csrf": match.group(1), **fields} if match else fields
            data = urllib.parse.urlencode(form).encode()
        target = url if url.startswith("http") else self.base + url
        with self.opener.open(target, data=data, timeout=10) as response:
            self.page = response.read().decode()
            return str(response.geturl())

    def sign_in(self, account_id: str, next_page: str) -> str:
        """Sign in on /demo and land on `next_page`."""
        self.open("/demo")
        return self.open("/demo/sign-in", {"account_id": account_id, "next": next_page})


def key_of(lines: list[str]) -> str:
    """The demo service key: the line after its label."""
    [label] = [n for n, line in enumerate(lines) if line.startswith("demo service key")]
    return lines[label + 1]


def test_rerun_keeps_checkouts_billing_and_the_key(tmp_path: Path) -> None:
    port, stripe_port = free_port(), free_port()
    first = DemoRun(tmp_path, port, stripe_port)
    try:
        reader = Browser(first.url)
        reader.sign_in("demo-reader", "/subscribe")
        checkout = reader.open("/subscribe", {"lookup_key": "plus_annual"})
        assert "/checkout/cs_" in checkout, checkout
    finally:
        first_lines = first.stop()

    second = DemoRun(tmp_path, port, stripe_port)
    try:
        # The reader who reached checkout before the restart pays now.
        reader = Browser(second.url)
        reader.sign_in("demo-reader", "/subscribe")
        assert reader.open("/subscribe", {"lookup_key": "plus_annual"}) == checkout
        where = reader.open(
            f"{checkout}/pay", {"email": "reader@example.com", "card_number": "4242424242424242"}
        )
        assert where.startswith(f"{second.url}/subscribe/success"), where
        for _ in range(50):
            reader.open("/account")
            if "Renews on" in reader.page:
                break
            time.sleep(0.1)
        assert "Renews on" in reader.page
        # ... and manages billing in the emulator's portal, as demo-subscriber does.
        assert "/portal/" in reader.open("/account/billing", {})
        assert 'id="cancel"' in reader.page
        subscriber = Browser(second.url)
        subscriber.sign_in("demo-subscriber", "/account")
        assert "/portal/" in subscriber.open("/account/billing", {})
        assert "Plus" in subscriber.page
    finally:
        second_lines = second.stop()

    assert key_of(second_lines) == key_of(first_lines)
    key_file = tmp_path / "instance" / "demo-service-key"
    assert key_file.read_text().strip() == key_of(first_lines)
    assert key_file.stat().st_mode & 0o777 == 0o600
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    named = set(re.findall(r"`(demo-[a-z]+)`", readme))
    assert named >= {"demo-reader", "demo-subscriber"}
    listed = {line.split()[0] for line in first_lines if line.startswith("  demo-")}
    assert named <= listed
    assert "KEY=$(cat instance/demo-service-key)" in readme


def event_of(site: Receiver, account_id: str, secret: str, timeout: float) -> float:
    """Wait for a change event about `account_id` signed with `secret`; return its arrival."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for got in list(site.received):
            if verify_event(got.headers, got.body, secret).account_id == account_id:
                return got.at
        time.sleep(0.05)
    raise AssertionError(f"no event about {account_id} within {timeout} s")


def test_demo_run_delivers_change_events_to_the_site_url(tmp_path: Path) -> None:
    port, stripe_port = free_port(), free_port()
    secret_file = tmp_path / "instance" / "demo-event-secret"
    with receiver() as site:
        magazine = site.url.removesuffix("/events")
        first = DemoRun(tmp_path, port, stripe_port, ENTITLEMENTS_SITE_URL=magazine)
        try:
            secret = secret_file.read_text().strip()
            key = (tmp_path / "instance" / "demo-service-key").read_text().strip()
            ban = {"account_id": "demo-comp", "feature": "comment", "reason": "e2e: events"}
            status, body = request(first.url, "POST", "/v1/admin/bans", key, ban)
            committed = time.time()
            assert status == 201, body
            assert event_of(site, "demo-comp", secret, timeout=5) - committed < 5
        finally:
            first_lines = first.stop()
        site.received.clear()
        # Run again: the same endpoint and secret (the magazine keeps reading the same file).
        second = DemoRun(tmp_path, port, stripe_port, ENTITLEMENTS_SITE_URL=magazine)
        try:
            ban["account_id"] = "demo-reader"
            assert request(second.url, "POST", "/v1/admin/bans", key, ban)[0] == 201
            event_of(site, "demo-reader", secret, timeout=5)
            status, body = request(second.url, "GET", "/v1/admin/webhooks", key)
            endpoints = json.loads(body)["endpoints"]
        finally:
            second.stop()
    assert [(e["url"], e["status"]) for e in endpoints] == [
        (f"{magazine}/entitlements-events", "active")
    ]
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert f"change events to {magazine}/entitlements-events" in "\n".join(first_lines)
    # Without ENTITLEMENTS_SITE_URL no worker runs: the magazine must not wait for events.
    DemoRun(tmp_path, port, stripe_port).stop()
    assert not secret_file.exists()


def test_demo_run_stops_on_a_busy_port_before_writing_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for options in (
            ["--port", str(taken), "--stripe-port", str(free_port())],
            ["--port", str(free_port()), "--stripe-port", str(taken)],
        ):
            result = subprocess.run(
                [ENTRY_POINT, "demo", "run", *options],
                cwd=tmp_path,
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            option = options[options.index(str(taken)) - 1]
            assert result.returncode == 1, result
            assert result.stdout == ""
            [line] = result.stderr.splitlines()
            assert line.startswith(f"error: port {taken} on 127.0.0.1 is not free"), line
            assert f"pass {option} with another port" in line
            assert list(tmp_path.iterdir()) == []


def test_demo_run_publishes_its_first_signing_key_before_any_token(tmp_path: Path) -> None:
    # A verifier that fetches the JWKS first must find the key the first token will name.
    run = DemoRun(tmp_path, free_port(), free_port())
    try:
        with urllib.request.urlopen(f"{run.url}/.well-known/jwks.json", timeout=10) as response:
            keys = json.load(response)["keys"]
    finally:
        run.stop()
    assert len(keys) == 1


def test_demo_run_without_the_emulator_says_how_to_install_it(tmp_path: Path) -> None:
    # The emulator is its own distribution: a checkout installed with `pip install -e .` only.
    program = (
        "import sys; sys.modules['devstripe'] = None; sys.argv[0] = 'entitlements'; "
        "from entitlements.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, "demo", "run", "--port", str(free_port()),
         "--stripe-port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1, result
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: the offline Stripe emulator is not installed"), line
    assert "pip install -e ./devstripe" in line
    assert list(tmp_path.iterdir()) == []
