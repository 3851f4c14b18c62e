"""Debian's headless Chromium for end-to-end tests, and numbered full-page screenshots."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver


def chromium(*extra_flags: str) -> Iterator[WebDriver]:
    """Yield /usr/bin/chromium, headless, with no network of its own; quit it afterwards."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
        *extra_flags,
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Screenshots:
    """Full-page screenshots, numbered in the order taken."""

    def __init__(self, driver: WebDriver, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str) -> None:
        """Save the current page, from its top, as NN-name.png."""
        self.count += 1
        self.driver.execute_script("window.scrollTo(0, 0)")
        height = self.driver.execute_script(
            "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
        )
        # The window's height includes the (invisible) browser frame: leave room for it.
        self.driver.set_window_size(1280, max(900, int(height) + 160))
        self.driver.save_screenshot(str(self.folder / f"{self.count:02d}-{name}.png"))
        self.driver.set_window_size(1200, 900)

    def publish(self) -> None:
        """Copy the screenshots to $ENTITLEMENTS_ARTIFACTS, when set."""
        target = os.environ.get("ENTITLEMENTS_ARTIFACTS")
        if target:
            shutil.copytree(self.folder, Path(target) / self.folder.name, dirs_exist_ok=True)
