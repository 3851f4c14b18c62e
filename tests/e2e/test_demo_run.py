"""The README's first command, for real: `entitlements demo run`, then subscribe offline."""

from __future__ import annotations

import http.cookiejar
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

ENTRY_POINT = os.path.join(os.path.dirname(sys.executable), "entitlements")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """Run `entitlements demo run` in a fresh folder; yield its URL."""
    port, stripe_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTITLEMENTS_")}
    process = subprocess.Popen(
        [ENTRY_POINT, "demo", "run", "--port", str(port), "--stripe-port", str(stripe_port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("demo did not start")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
        assert "Traceback" not in output, output
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
