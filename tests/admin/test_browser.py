"""The console in headless Chromium over real HTTP: sign in, search, explain, change, audit."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.admin.conftest import EMAIL, PASSWORD, make_admin
from tests.billing.test_browser import browser, text, wait_for, wait_url
from tests.conftest import FakeClock
from tests.factories import add_subscription, grant

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the Chromium fixture, shared with the subscriber journey

CSV = (
    "account_id,last_commented_at\n"
    "old-1,2023-05-01T10:00:00Z\n"
    "old-2,2024-01-10\n"
    "late-1,2024-06-01T00:00:00Z\n"
    "bad id!,2023-01-01\n"
)
# Set to a folder to keep screenshots of the pages for a look by eye (never committed).
SCREENSHOTS = os.environ.get("ENTITLEMENTS_TEST_SCREENSHOTS")


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Keep test output readable."""


@dataclass
class Served:
    """The app on real HTTP on loopback."""

    app: Flask
    url: str


@pytest.fixture
def served(make_app: Callable[..., Flask]) -> Iterator[Served]:
    """Serve the console on 127.0.0.1 with plain-http cookies and a later grandfather end."""
    app = make_app(GRANDFATHER_UNTIL="2026-06-30T00:00:00Z")
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_Quiet
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Served(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def shoot(driver: WebDriver, name: str) -> None:
    """Save a full-page screenshot when SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, max(900, int(height) + 40))
        driver.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))
        driver.set_window_size(1200, 900)


def fill(driver: WebDriver, element_id: str, value: str) -> None:
    """Replace an input's text."""
    element = wait_for(driver, element_id)
    element.clear()
    element.send_keys(value)


def press(driver: WebDriver, element_id: str) -> None:
    """Click a button or link and wait until the next page has replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    wait_for(driver, element_id).click()

    def replaced(_driver: WebDriver) -> bool:
        try:
            page.is_enabled()
        # Mid-navigation Chromium may answer "node does not belong to the document" instead
        # of "stale element": either way the old page is gone.
        except WebDriverException:
            return True
        return False

    WebDriverWait(driver, 10).until(replaced)


def submit_row_form(driver: WebDriver, button_id: str, values: dict[str, str]) -> None:
    """Fill the inputs of the small form holding `button_id`, then press it."""
    form = wait_for(driver, button_id).find_element(By.XPATH, "./ancestor::form")
    for name, value in values.items():
        form.find_element(By.NAME, name).send_keys(value)
    press(driver, button_id)


def flash(driver: WebDriver) -> str:
    """Return the confirmation shown after a change."""
    found = WebDriverWait(driver, 10).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".flash"))
    )
    return str(found.text)


def test_an_admin_journey_from_sign_in_to_the_audit_log(
    served: Served, browser: WebDriver, clock: FakeClock, tmp_path: Path
) -> None:
    app, url, now = served.app, served.url, clock.now
    make_admin(app)
    add_subscription(
        app, "reader-42", now=now, lookup_key="plus_annual", cancel_at_period_end=True,
        current_period_end=now + timedelta(days=45, hours=12),
    )
    grant(app, "reader-42", "comment", now=now, kind="grandfather", ends_by_policy=True)
    grant(app, "reader-7", "archive", now=now)

    # Sign in: the console sends a stranger to the sign-in page first.
    browser.get(f"{url}/admin/accounts")
    wait_url(browser, f"{url}/admin/login")
    fill(browser, "email", EMAIL)
    fill(browser, "password", PASSWORD)
    press(browser, "sign-in")
    assert text(browser, "signed-in-as") == EMAIL

    # Search by Stripe customer id, open the account, read the explanation.
    fill(browser, "q", "cus_reader-42")
    press(browser, "search")
    wait_url(browser, f"{url}/admin/accounts?q=cus_reader-42")
    links = browser.find_elements(By.CLASS_NAME, "account-link")
    assert [link.text for link in links] == ["reader-42"]
    press(browser, "account-reader-42")
    summary = text(browser, "summary")
    assert summary.startswith(
        "Comments until 2026-06-30 as a past commenter and until 2026-03-02 through Plus annual; "
        "no ads until 2026-03-02 through Plus annual;"
    )
    assert "held" in text(browser, "feature-ad_free")
    shoot(browser, "account")

    # Grant a complimentary feature.
    Select(wait_for(browser, "grant-feature")).select_by_value("archive")
    fill(browser, "grant-until", "2026-12-31")
    fill(browser, "grant-reason", "press pass")
    press(browser, "grant-submit")
    assert "Granted archive to reader-42 (2026-12-31)." in flash(browser)
    assert "the archive until 2026-12-31 as a complimentary grant" in text(browser, "summary")

    # Ban from commenting, then lift the ban.
    fill(browser, "ban-until", "2026-02-01")
    fill(browser, "ban-reason", "spam links")
    press(browser, "ban-submit")
    assert "Banned reader-42 from comment until 2026-02-01." in flash(browser)
    assert "Cannot comment: banned until 2026-02-01 (reason: spam links)." in text(
        browser, "summary"
    )
    lift = browser.find_element(By.CSS_SELECTOR, "#bans button[id^=lift-]").get_attribute("id")
    submit_row_form(browser, str(lift), {"reason": "appeal upheld"})
    assert f"Lifted ban {str(lift).removeprefix('lift-')}." in flash(browser)
    assert "Comments until 2026-06-30" in text(browser, "summary")

    # Grandfather import: a dry run first, then the commit of the same file.
    csv_file = tmp_path / "commenters.csv"
    csv_file.write_text(CSV)
    press(browser, "nav-import")
    wait_for(browser, "file").send_keys(str(csv_file))
    press(browser, "preview")
    assert text(browser, "count-new") == "2"
    assert text(browser, "count-invalid") == "1"
    assert "5" in text(browser, "invalid-rows")
    shoot(browser, "import-preview")
    assert text(browser, "commit") == "Import 2 accounts"
    press(browser, "commit")
    assert "Imported 2 accounts from commenters.csv" in flash(browser)

    # Every step is in the audit log, by this admin.
    press(browser, "nav-audit")
    rows = browser.find_elements(By.CLASS_NAME, "audit-row")
    steps = [row.get_attribute("data-action") for row in rows]
    for action in ("admin.login", "grant.add", "ban.add", "ban.lift", "grandfather.preview",
                   "grandfather.import"):
        assert action in steps, steps
    mine = [row.text for row in rows if f"admin:{EMAIL}" in row.text]
    assert len(mine) == 6
    shoot(browser, "audit")
    fill(browser, "f-action", "ban.lift")
    press(browser, "filter")
    wait_url(browser, f"{url}/admin/audit?")
    [only] = browser.find_elements(By.CLASS_NAME, "audit-row")
    assert "appeal upheld" in only.text

    # Sign out: the console is closed again.
    press(browser, "logout")
    wait_url(browser, f"{url}/admin/login")
    browser.get(f"{url}/admin/audit")
    wait_url(browser, f"{url}/admin/login")
