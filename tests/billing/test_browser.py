"""The subscriber journey in headless Chromium: offer, Checkout, success, account, portal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.billing.conftest import StripeWorld
from tests.support.chromium import chromium
from tests.support.responses import json_object

pytestmark = pytest.mark.browser


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Debian's Chromium, headless, with no network of its own."""
    yield from chromium()


def text(driver: WebDriver, element_id: str) -> str:
    """Wait for an element and return its text."""
    return str(wait_for(driver, element_id).text)


def wait_for(driver: WebDriver, element_id: str) -> WebElement:
    """Wait until the current page has the element (a click's navigation may lag)."""
    found: WebElement = WebDriverWait(driver, 10).until(
        expected_conditions.presence_of_element_located((By.ID, element_id))
    )
    return found


def wait_url(driver: WebDriver, prefix: str) -> str:
    """Wait until the browser is on a page whose URL starts with `prefix`."""
    WebDriverWait(driver, 10).until(lambda d: d.current_url.startswith(prefix))
    return str(driver.current_url)


def reload_until(driver: WebDriver, element_id: str, wanted: str, tries: int = 40) -> str:
    """Reload until an element holds `wanted` (webhooks arrive in the background)."""
    import time

    for _ in range(tries):
        elements = driver.find_elements(By.ID, element_id)
        if elements and wanted in elements[0].text:
            return str(elements[0].text)
        time.sleep(0.1)
        driver.refresh()
    raise AssertionError(f"#{element_id} never showed {wanted!r}: {driver.page_source[:2000]}")


def test_subscribe_then_cancel_at_period_end_in_a_real_browser(
    stripe_world: StripeWorld, browser: WebDriver
) -> None:
    world = stripe_world
    world.state.resume_delivery()  # webhooks flow in the background, as in production
    answer = world.app.test_client().post(
        "/v1/accounts/reader-42/handoffs",
        headers=world.keys.header("tokens:issue"),
        json={"next": "/subscribe", "email": "reader42@example.com"},
    )
    handoff = str(json_object(answer)["url"])

    browser.get(handoff)
    wait_url(browser, f"{world.app_url}/subscribe")
    # The hand-off's one-time token and the reader's email stay out of the address bar.
    assert browser.current_url == f"{world.app_url}/subscribe"
    assert "reader42@example.com" not in handoff
    assert text(browser, "signed-in-as") == "Signed in as reader-42 (reader42@example.com)"
    assert "$5.00" in text(browser, "offer-plus_monthly")
    wait_for(browser, "choose-plus_monthly").click()

    wait_url(browser, f"{world.emulator.url}/checkout/cs_")
    email = browser.find_element(By.ID, "email")
    if not email.get_attribute("value"):
        email.send_keys("reader42@example.com")
    browser.find_element(By.ID, "pay").click()
    errors = browser.find_elements(By.ID, "error")
    assert not errors, errors[0].text

    wait_url(browser, f"{world.app_url}/subscribe/success")
    assert text(browser, "welcome") == "Welcome to Plus"
    assert "comment on articles" in text(browser, "state")
    browser.find_element(By.ID, "to-account").click()

    assert "Renews on" in reload_until(browser, "renewal", "Renews on")
    assert text(browser, "status") == "active"
    browser.find_element(By.ID, "manage-billing").click()

    wait_url(browser, f"{world.emulator.url}/portal/")
    wait_for(browser, "cancel").click()
    wait_for(browser, "resume")  # the portal now offers to renew instead
    wait_for(browser, "return").click()

    wait_url(browser, f"{world.app_url}/account")
    shown = reload_until(browser, "renewal", "cancelled")
    assert "ends on" in shown
    assert world.features("reader-42") == ["ad_free", "archive", "comment", "digital_edition"]

    browser.find_element(By.ID, "sign-out").click()
    assert text(browser, "message") == "This browser no longer shows your account here."
    assert not browser.find_elements(By.ID, "signed-in-as")
    browser.get(f"{world.app_url}/account")
    assert "sign in on the magazine" in text(browser, "message")
